package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// output is a concurrency-safe stdout that tells when it grows.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	close(o.changed)
	o.changed = make(chan struct{})
	return n, err
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitFor returns the matches of re once the output holds n of them, or
// fails the test when the program ends first or after a generous bound.
func (o *output) waitFor(t *testing.T, re *regexp.Regexp, n int, done <-chan error) [][]string {
	t.Helper()
	bound := time.NewTimer(15 * time.Second)
	defer bound.Stop()
	for {
		o.mu.Lock()
		m := re.FindAllStringSubmatch(o.buf.String(), -1)
		changed := o.changed
		o.mu.Unlock()
		if len(m) >= n {
			return m
		}
		select {
		case <-changed:
		case err := <-done:
			t.Fatalf("the program stopped (%v) before printing %d × %s:\n%s", err, n, re, o.String())
		case <-bound.C:
			t.Fatalf("no %d × %s in the output:\n%s", n, re, o.String())
		}
	}
}

var (
	listenRE = regexp.MustCompile(`listening on (http://\S+)\n`)
	linkRE   = regexp.MustCompile(`approval link for (\S+) \(new request, fake:u-gus, [^)]*\):\n  (\S+)\n`)
	cliRE    = regexp.MustCompile(`approval (\S+) requested for fake:u-gus \(risk high\), waiting until \S+; answer with\n  iamplaybook --db (\S+) approve (\S+) --by NAME`)
	tokenRE  = regexp.MustCompile(`name="(csrf|h)" value="([^"]+)"`)
	statusRE = regexp.MustCompile(`<dd id="status">([a-z]+)</dd>`)
)

const (
	audience     = "https://receiver.example/ssf"
	securityLead = "secops-lead@contoso.example"
	ciso         = "ciso@contoso.example"
	linkKey      = "0123456789abcdef0123456789abcdef-link-key"
	hookSecret   = "fedcba9876543210fedcba9876543210-hook-secret"
)

// program is one start of the program, in process.
type program struct {
	out    *output
	done   chan error
	cancel context.CancelFunc
	url    string // where SETs are pushed
}

// start runs the program with args and env and waits until it listens.
func start(t *testing.T, args []string, env map[string]string) *program {
	t.Helper()
	p := &program{out: newOutput(), done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(t.Context())
	p.cancel = cancel
	go func() { p.done <- run(ctx, args, func(k string) string { return env[k] }, p.out) }()
	p.url = p.out.waitFor(t, listenRE, 1, p.done)[0][1]
	return p
}

// stop ends the program as SIGTERM does and returns its output.
func (p *program) stop(t *testing.T) string {
	t.Helper()
	p.cancel()
	require.NoError(t, <-p.done, p.out.String())
	return p.out.String()
}

// hookReceiver is the on-call system the approval webhook posts to; it
// checks every signature.
type hookReceiver struct {
	mu       sync.Mutex
	payloads []approve.WebhookPayload
	bad      int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		err = approve.VerifyWebhook([]byte(hookSecret), r.Header, body, time.Now(), time.Minute)
	}
	var p approve.WebhookPayload
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	if err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	h.payloads = append(h.payloads, p)
}

func (h *hookReceiver) kinds() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var k []string
	for _, p := range h.payloads {
		k = append(k, p.Kind+":"+p.Subject.ID+":"+strings.Join(p.Recipients, "+"))
	}
	return k
}

// answerByWeb follows an approval link as a browser does: GET the page,
// then POST its form with the decision. It returns the request status the
// answer page shows.
func answerByWeb(t *testing.T, client *http.Client, link, decision string) string {
	t.Helper()
	resp, err := client.Get(link)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	assert.Contains(t, string(page), "Gus Admin (gus@contoso.example)", "the page shows whose containment is asked")
	form := url.Values{"decision": {decision}, "reason": {"confirmed with the service desk"}}
	for _, m := range tokenRE.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	require.Len(t, form, 4, "the page carries its form token and summary hash")
	u, err := url.Parse(link)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, link, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	resp, err = client.Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	m := statusRE.FindStringSubmatch(string(body))
	require.NotNil(t, m, string(body))
	return m[1]
}

// TestEndToEnd runs the program in-process on a SQLite file against a test
// transmitter, in shadow and in enforcing mode: every signal must end as
// the policy says, refusals must be answered and audited, shadow mode must
// not touch the directory, the privileged case must be contained only once
// the quorum of approvers answered through the web pages (and the webhook
// told the on-call system, signed), and the audit file must verify.
func TestEndToEnd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		enforce bool
		// contained is the outcome of a run the policy contains.
		contained string
		// approval is the outcome of the run the policy sends for
		// approval: a dry run plans the steps instead of asking anyone.
		approval string
		action   string // outcome of each action.result record
		actions  int    // how many
	}{
		{name: "shadow", contained: "dry-run", approval: "dry-run", action: "dry-run", actions: 6},
		{name: "enforce", enforce: true, contained: "contained", approval: "contained", action: "applied", actions: 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tx, err := ssftest.New(ssftest.Options{Audience: audience})
			require.NoError(t, err)
			defer tx.Close()
			dir := t.TempDir()
			auditPath, db := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "runs.db")
			args := []string{"--listen", "127.0.0.1:0", "--transmitter", tx.Issuer, "--audience", audience, "--audit", auditPath, "--db", db}
			env := map[string]string{"SSF_RECEIVER_BEARER": "push-secret"}
			hooks := &hookReceiver{}
			if tc.enforce {
				hookSrv := httptest.NewServer(hooks)
				defer hookSrv.Close()
				args = append(args, "--enforce", "--approvers", securityLead+", "+ciso, "--quorum", "2",
					"--approval-listen", "127.0.0.1:0", "--approval-webhook", hookSrv.URL)
				env["IAMPLAYBOOK_LINK_KEY"], env["IAMPLAYBOOK_WEBHOOK_SECRET"] = linkKey, hookSecret
			}
			p := start(t, args, env)
			client := &http.Client{Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			push := func(tok, auth string) ssftest.PushResult {
				res, err := tx.Push(t.Context(), client, p.url, tok, auth)
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

			if tc.enforce {
				// Gus's case waits; each approver got a personal link.
				links := map[string]string{}
				for _, m := range p.out.waitFor(t, linkRE, 2, p.done) {
					links[m[1]] = m[2]
				}
				require.Len(t, links, 2, p.out.String())
				assert.Equal(t, "pending", answerByWeb(t, client, links[securityLead], "approve"), "one approval of a quorum of two settles nothing")
				assert.Equal(t, "approved", answerByWeb(t, client, links[ciso], "approve"), "the second approval reaches the quorum")
				// A used link gives no second verdict.
				resp, err := client.Get(links[securityLead])
				require.NoError(t, err)
				resp.Body.Close()
				assert.NotEqual(t, http.StatusOK, resp.StatusCode, "a used link is refused")
			}

			got := p.stop(t)
			for _, want := range []string{
				"u-ana risk.credential_compromise risk=high -> " + tc.contained + " (rule ssf/credential-compromise)",
				"u-gus risk.user risk=high -> " + tc.approval + " (rule matrix/high-privileged)",
				"u-leo risk.user risk=high -> " + tc.contained + " (rule matrix/high-standard)",
				"u-breakglass risk.credential_compromise risk=high -> escalated (rule protect/break-glass)",
				"u-ana risk.session risk=low -> logged (rule ssf/log)",
				"5 runs:",
				"approvals waiting: 0",
				"runs are kept in " + db,
			} {
				assert.Contains(t, got, want)
			}
			if tc.enforce {
				assert.NotContains(t, got, "directory writes: 0")
				assert.Equal(t, []string{
					"requested:u-gus:" + securityLead + "+" + ciso,
					"settled:u-gus:",
				}, hooks.kinds(), "the on-call system is told of the request and its end")
				assert.Zero(t, hooks.bad, "every webhook is signed")
			} else {
				assert.Contains(t, got, "directory writes: 0", "shadow mode never writes")
				assert.Contains(t, got, "no --approvers: privileged containments wait")
			}
			for _, secret := range []string{"push-secret", linkKey, hookSecret} {
				assert.NotContains(t, got, secret)
			}

			f, err := os.Open(auditPath)
			require.NoError(t, err)
			defer f.Close()
			_, err = audit.Verify(f, audit.VerifyOptions{})
			require.NoError(t, err, "the audit trail's hash chain verifies")
			raw, err := os.ReadFile(auditPath)
			require.NoError(t, err)
			for _, secret := range []string{"push-secret", linkKey, hookSecret} {
				assert.NotContains(t, string(raw), secret)
			}
			recs, err := audit.ReadJSONL(bytes.NewReader(raw))
			require.NoError(t, err)
			count := map[audit.Type]int{}
			actions := map[string]int{}
			var verdicts []string
			for _, r := range recs {
				count[r.Type]++
				if r.Type == audit.TypeActionResult {
					actions[r.Outcome]++
				}
				if r.Type == audit.TypeVerdict {
					verdicts = append(verdicts, r.Actor)
				}
			}
			assert.Equal(t, 2, count[audit.TypeEventRejected], "forged and wrong bearer")
			assert.Equal(t, 1, count[audit.TypeEventDuplicate], "replay")
			assert.Equal(t, 1, count[ssf.TypeSETIgnored], "unknown user")
			assert.Equal(t, 5, count[audit.TypeEventReceived])
			assert.Equal(t, tc.actions, actions[tc.action], "disable and revoke for ana, leo and gus (planned in shadow mode, approved when enforcing)")
			assert.Len(t, actions, 1)
			assert.False(t, strings.Contains(string(raw), compromiseTok), "tokens are not audited")
			if tc.enforce {
				assert.Equal(t, 1, count[audit.TypeApprovalRequested])
				assert.ElementsMatch(t, []string{securityLead, ciso}, verdicts, "both verdicts are audited with their approver")
			}
		})
	}
}

// TestRestart stops the program while a privileged case waits for
// approval (no --approvers: the operator CLI answers), posts the verdict to
// the store's inbox as the CLI does while no instance runs, and starts the
// program again on the same file: the approval must survive and contain
// the account, the SET replayed after the restart must be refused by the
// store's de-duplication without creating a run, and a second instance on
// the file must fail at once with the lock error.
func TestRestart(t *testing.T) {
	t.Parallel()
	tx, err := ssftest.New(ssftest.Options{Audience: audience})
	require.NoError(t, err)
	defer tx.Close()
	dir := t.TempDir()
	auditPath, db := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "runs.db")
	args := []string{"--listen", "127.0.0.1:0", "--transmitter", tx.Issuer, "--audience", audience, "--audit", auditPath, "--enforce"}
	env := map[string]string{"IAMPLAYBOOK_DB": db}
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	gus := tx.MustSign(tx.NewSET(ssf.CAEPRiskLevelChange, map[string]any{"principal": "USER", "current_level": "HIGH"},
		map[string]any{"format": "email", "email": "gus@contoso.example"}))

	// First start: Gus's case waits for a verdict through the CLI.
	first := start(t, args, env)
	res, err := tx.Push(t.Context(), client, first.url, gus, "")
	require.NoError(t, err)
	require.Equal(t, 202, res.Status, res.Err)
	notice := first.out.waitFor(t, cliRE, 1, first.done)[0]
	approvalID := notice[1]
	assert.Equal(t, db, notice[2], "the notice names the database the CLI must open")
	assert.Equal(t, approvalID, notice[3])
	out := first.stop(t)
	assert.Contains(t, out, "u-gus risk.user risk=high -> waiting-for-approval (rule matrix/high-privileged)")
	assert.Contains(t, out, "approvals waiting: 1")

	// No instance runs: the operator approves as the CLI does, through the
	// store's inbox.
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	pending, err := playbook.PendingApprovals(t.Context(), st, 0)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	runID := pending[0].ID
	assert.Equal(t, approvalID, pending[0].Approval.Request.ID)
	_, err = st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: approvalID, Approver: securityLead, Approve: true,
		Reason: "Gus confirmed the sign-in was not his", Channel: "cli", At: time.Now().UTC()})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	// Second start: the verdict is applied and Gus contained.
	second := start(t, args, env)

	// A second instance on the same file fails at once, before listening.
	third := newOutput()
	err = run(t.Context(), []string{"--listen", "127.0.0.1:0", "--transmitter", tx.Issuer, "--audience", audience,
		"--audit", filepath.Join(dir, "other-audit.jsonl"), "--db", db}, func(string) string { return "" }, third)
	require.ErrorIs(t, err, playbook.ErrStoreLocked)
	assert.Contains(t, err.Error(), "is in use by another instance")
	assert.NotContains(t, third.String(), "listening on", "the second instance never accepts SETs")

	// The transmitter delivers Gus's SET again: the receiver's memory of
	// SETs is new, the store's de-duplication is not.
	res, err = tx.Push(t.Context(), client, second.url, gus, "")
	require.NoError(t, err)
	assert.Equal(t, 400, res.Status)
	assert.Equal(t, "invalid_request", res.Err)
	out = second.stop(t)
	assert.Contains(t, out, "1 runs:\n  u-gus risk.user risk=high -> contained (rule matrix/high-privileged)")
	assert.Contains(t, out, "approvals waiting: 0")
	assert.NotContains(t, out, "directory writes: 0")

	st, err = sqlite.Open(t.Context(), db, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.ListRuns(t.Context(), playbook.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 1, "the replayed SET creates no run")
	r := runs[0]
	assert.Equal(t, runID, r.ID)
	assert.Equal(t, playbook.OutcomeContained, r.Outcome)
	require.NotNil(t, r.Approval)
	require.Len(t, r.Approval.Verdicts, 1)
	assert.Equal(t, securityLead, r.Approval.Verdicts[0].Approver)
	assert.Equal(t, "cli", r.Approval.Verdicts[0].Channel)

	f, err := os.Open(auditPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err, "both starts append to one hash chain")
	raw, err := os.ReadFile(auditPath)
	require.NoError(t, err)
	recs, err := audit.ReadJSONL(bytes.NewReader(raw))
	require.NoError(t, err)
	count := map[audit.Type]int{}
	for _, rec := range recs {
		count[rec.Type]++
		if rec.Type == audit.TypeEventDuplicate {
			assert.Equal(t, runID, rec.RunID, "the replay is recorded against the original run")
		}
	}
	assert.Equal(t, 1, count[audit.TypeEventReceived])
	assert.Equal(t, 1, count[audit.TypeEventDuplicate], "the replay after the restart")
	assert.Equal(t, 1, count[audit.TypeVerdict])
}

// TestFlags names the missing or bad flag, and never echoes a secret.
func TestFlags(t *testing.T) {
	t.Parallel()
	base := []string{"--transmitter", "https://idp.example", "--audience", "a"}
	withKey := map[string]string{"IAMPLAYBOOK_LINK_KEY": linkKey}
	for _, tc := range []struct {
		args   []string
		env    map[string]string
		errHas string
	}{
		{[]string{"--audience", "a"}, nil, "--transmitter"},
		{[]string{"--transmitter", "https://idp.example"}, nil, "--audience"},
		{append(base, "extra"), nil, "unexpected"},
		{[]string{"--nope"}, nil, "not defined"},
		{[]string{"--transmitter", "http://idp.example", "--audience", "a"}, nil, "https"},
		{append(base, "--db", ""), nil, "--db must name a file"},
		{append(base, "--approval-timeout", "0s"), nil, "--approval-timeout must be positive"},
		{append(base, "--quorum", "2"), nil, "--quorum applies to the web approvals"},
		{append(base, "--approvers", "a@x"), nil, "IAMPLAYBOOK_LINK_KEY"},
		{append(base, "--approvers", "a@x"), map[string]string{"IAMPLAYBOOK_LINK_KEY": "short-key"}, "at least 32 bytes"},
		{append(base, "--approvers", "a@x,b@y", "--quorum", "3"), withKey, "--quorum is 3"},
		{append(base, "--approvers", "a@x", "--remind-every", "10s"), withKey, "--remind-every"},
		{append(base, "--approvers", "a@x", "--escalate-to", "c@z", "--escalate-after", "5h"), withKey, "--escalate-after"},
		{append(base, "--approvers", "a@x", "--escalate-after", "1h"), withKey, "--escalate-after needs --escalate-to"},
		{append(base, "--approval-webhook", "https://hooks.example/x"), nil, "IAMPLAYBOOK_WEBHOOK_SECRET"},
	} {
		var out bytes.Buffer
		env := func(k string) string { return tc.env[k] }
		err := run(t.Context(), tc.args, env, &out)
		require.Error(t, err, tc.args)
		assert.Contains(t, err.Error()+out.String(), tc.errHas, tc.args)
		assert.NotContains(t, err.Error()+out.String(), "short-key")
	}
}

// TestApprovalsFromEnvironment reads the approvers from the environment
// and builds the eligibility rule from the flags.
func TestApprovalsFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{"IAMPLAYBOOK_APPROVERS": " a@x , b@y,", "IAMPLAYBOOK_LINK_KEY": linkKey, "IAMPLAYBOOK_DB": "/var/lib/x.db"}
	o, err := parseFlags([]string{"--transmitter", "https://idp.example", "--audience", "a", "--escalate-to", "c@z", "--remind-every", "30m"},
		func(k string) string { return env[k] }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "/var/lib/x.db", o.approval.db)
	rules := o.approval.rules()
	require.NoError(t, rules.Validate())
	assert.Equal(t, approve.Rule{
		Eligible: []string{"a@x", "b@y"}, Quorum: 1, Deadline: 4 * time.Hour, RemindEvery: 30 * time.Minute,
		Escalation: []approve.Tier{{After: 2 * time.Hour, Approvers: []string{"c@z"}, Decisive: true}},
	}, rules.Default)
	o, err = parseFlags([]string{"--transmitter", "https://idp.example", "--audience", "a"}, func(string) string { return "" }, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, defaultDB, o.approval.db, "the default store is a file")
	assert.False(t, o.approval.enabled())
}
