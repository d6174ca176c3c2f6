package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
)

// output is a concurrency-safe stdout that tells when the program is
// listening.
type output struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	ready chan string
	sent  bool
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)\n`)

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if m := listenRE.FindStringSubmatch(o.buf.String()); m != nil && !o.sent {
		o.sent = true
		o.ready <- m[1]
	}
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

const audience = "https://receiver.example/ssf"

// TestEndToEnd runs the program in-process against a test transmitter, in
// shadow and in enforcing mode: every signal must end as the policy says,
// refusals must be answered and audited, shadow mode must not touch the
// directory, and the audit file must verify.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		enforce bool
		// contained is the outcome of a run the policy contains.
		contained string
		// approval is the outcome of a run the policy sends for approval:
		// a dry run plans the steps instead of asking anyone.
		approval string
		action   string // outcome of each action.result record
		actions  int    // how many
	}{
		{name: "shadow", contained: "dry-run", approval: "dry-run", action: "dry-run", actions: 6},
		{name: "enforce", enforce: true, contained: "contained", approval: "waiting-for-approval", action: "applied", actions: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tx, err := ssftest.New(ssftest.Options{Audience: audience})
			require.NoError(t, err)
			defer tx.Close()
			auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
			args := []string{"--listen", "127.0.0.1:0", "--transmitter", tx.Issuer, "--audience", audience, "--audit", auditPath}
			if tc.enforce {
				args = append(args, "--enforce")
			}
			env := func(k string) string {
				if k == "SSF_RECEIVER_BEARER" {
					return "push-secret"
				}
				return ""
			}
			out := &output{ready: make(chan string, 1)}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- run(ctx, args, env, out) }()
			var url string
			select {
			case url = <-out.ready:
			case err := <-done:
				t.Fatalf("the program stopped before listening: %v\n%s", err, out.String())
			}
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			push := func(tok, auth string) ssftest.PushResult {
				res, err := tx.Push(t.Context(), client, url, tok, auth)
				require.NoError(t, err)
				return res
			}
			email := func(e string) map[string]any { return map[string]any{"format": "email", "email": e} }
			compromise := tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"}, email("ana@contoso.example"))
			compromiseTok := tx.MustSign(compromise)
			oktaStyle := tx.NewSET(ssf.CAEPSessionRevoked, map[string]any{
				"subject":         map[string]any{"format": "iss_sub", "iss": tx.Issuer, "sub": "ana@contoso.example"},
				"event_timestamp": time.Now().UnixMilli(),
			}, nil)
			forged, err := ssftest.Forge(tx.MustSign(compromise), tx.NewSET(ssf.RISCCredentialCompromise, nil, email("leo@contoso.example")))
			require.NoError(t, err)

			steps := []struct {
				name       string
				token      string
				auth       string
				wantStatus int
				wantErr    string
			}{
				{"credential compromise, standard user", compromiseTok, "Bearer push-secret", 202, ""},
				{"risk HIGH, privileged user", tx.MustSign(tx.NewSET(ssf.CAEPRiskLevelChange, map[string]any{"principal": "USER", "current_level": "HIGH"}, email("gus@contoso.example"))), "Bearer push-secret", 202, ""},
				{"risk HIGH, standard user by iss_sub", tx.MustSign(tx.NewSET(ssf.CAEPRiskLevelChange, map[string]any{"principal": "USER", "current_level": "HIGH"},
					map[string]any{"format": "iss_sub", "iss": tx.Issuer, "sub": "u-leo"})), "Bearer push-secret", 202, ""},
				{"credential compromise, break-glass", tx.MustSign(tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"}, email("breakglass@contoso.example"))), "Bearer push-secret", 202, ""},
				{"Okta-style session revoked", tx.MustSign(oktaStyle), "Bearer push-secret", 202, ""},
				{"unknown user", tx.MustSign(tx.NewSET(ssf.RISCCredentialCompromise, map[string]any{"credential_type": "password"}, email("nobody@contoso.example"))), "Bearer push-secret", 202, ""},
				{"forged", forged, "Bearer push-secret", 400, "authentication_failed"},
				{"replay", compromiseTok, "Bearer push-secret", 400, "invalid_request"},
				{"wrong bearer", tx.MustSign(compromise), "Bearer guess", 401, "authentication_failed"},
			}
			for _, s := range steps {
				res := push(s.token, s.auth)
				assert.Equal(t, s.wantStatus, res.Status, s.name)
				assert.Equal(t, s.wantErr, res.Err, s.name)
			}

			cancel()
			require.NoError(t, <-done, out.String())
			got := out.String()
			for _, want := range []string{
				"u-ana risk.credential_compromise risk=high -> " + tc.contained + " (rule ssf/credential-compromise)",
				"u-gus risk.user risk=high -> " + tc.approval + " (rule matrix/high-privileged)",
				"u-leo risk.user risk=high -> " + tc.contained + " (rule matrix/high-standard)",
				"u-breakglass risk.credential_compromise risk=high -> escalated (rule protect/break-glass)",
				"u-ana risk.session risk=low -> logged (rule ssf/log)",
				"5 runs:",
			} {
				assert.Contains(t, got, want)
			}
			if tc.enforce {
				assert.NotContains(t, got, "directory writes: 0")
			} else {
				assert.Contains(t, got, "directory writes: 0", "shadow mode never writes")
			}
			assert.NotContains(t, got, "push-secret")

			f, err := os.Open(auditPath)
			require.NoError(t, err)
			defer f.Close()
			_, err = audit.Verify(f, audit.VerifyOptions{})
			require.NoError(t, err, "the audit trail's hash chain verifies")
			raw, err := os.ReadFile(auditPath)
			require.NoError(t, err)
			assert.NotContains(t, string(raw), "push-secret")
			recs, err := audit.ReadJSONL(bytes.NewReader(raw))
			require.NoError(t, err)
			count := map[audit.Type]int{}
			actions := map[string]int{}
			for _, r := range recs {
				count[r.Type]++
				if r.Type == audit.TypeActionResult {
					actions[r.Outcome]++
				}
			}
			assert.Equal(t, 2, count[audit.TypeEventRejected], "forged and wrong bearer")
			assert.Equal(t, 1, count[audit.TypeEventDuplicate], "replay")
			assert.Equal(t, 1, count[ssf.TypeSETIgnored], "unknown user")
			assert.Equal(t, 5, count[audit.TypeEventReceived])
			assert.Equal(t, tc.actions, actions[tc.action], "disable and revoke for ana and leo (and gus, planned, in shadow mode)")
			assert.Len(t, actions, 1)
			assert.False(t, strings.Contains(string(raw), compromiseTok), "tokens are not audited")
		})
	}
}

// TestFlags names the missing or bad flag.
func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args   []string
		errHas string
	}{
		{[]string{"--audience", "a"}, "--transmitter"},
		{[]string{"--transmitter", "https://idp.example"}, "--audience"},
		{[]string{"--transmitter", "https://idp.example", "--audience", "a", "extra"}, "unexpected"},
		{[]string{"--nope"}, "not defined"},
		{[]string{"--transmitter", "http://idp.example", "--audience", "a"}, "https"},
	} {
		var out bytes.Buffer
		err := run(t.Context(), tc.args, func(string) string { return "" }, &out)
		require.Error(t, err)
		assert.Contains(t, err.Error()+out.String(), tc.errHas)
	}
}
