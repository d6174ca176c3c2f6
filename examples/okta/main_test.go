package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
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
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

const (
	apiToken   = "e2e-api-token-7f3a"
	hookSecret = "e2e-hook-secret-91c2"
)

// output is a concurrency-safe stdout that wakes waiters on every write.
type output struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{}
}

func newOutput() *output { return &output{changed: make(chan struct{})} }

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	close(o.changed)
	o.changed = make(chan struct{})
	return o.buf.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// waitMatch blocks until the output matches re and returns the first
// submatch.
func (o *output) waitMatch(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		o.mu.Lock()
		m := re.FindStringSubmatch(o.buf.String())
		ch := o.changed
		o.mu.Unlock()
		if m != nil {
			return m[1], nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// org is the emulated tenant of the scenario.
type org struct {
	srv            *oktatest.Server
	ana, root, bob string
}

func newOrg(t *testing.T) org {
	t.Helper()
	srv := oktatest.NewServer(oktatest.Options{APIToken: apiToken})
	t.Cleanup(srv.Close)
	o := org{srv: srv}
	var err error
	o.ana, err = srv.AddUser(oktatest.UserSpec{Login: "ana@example.com", FirstName: "Ana", LastName: "Souza", Department: "Sales"})
	require.NoError(t, err)
	o.root, err = srv.AddUser(oktatest.UserSpec{Login: "root@example.com", FirstName: "Root", LastName: "Admin", Department: "IT"})
	require.NoError(t, err)
	o.bob, err = srv.AddUser(oktatest.UserSpec{Login: "bob@example.com", FirstName: "Bob", LastName: "Marsh"})
	require.NoError(t, err)
	_, err = srv.AssignRole(o.root, okta.RoleSuperAdmin)
	require.NoError(t, err)
	for _, id := range []string{o.ana, o.ana, o.root, o.bob} {
		_, err := srv.AddSession(id, "203.0.113.7")
		require.NoError(t, err)
	}
	// Identity Threat Protection flags ana and root.
	for _, id := range []string{o.ana, o.root} {
		srv.AddLogEvent(riskDetect(id, ""))
	}
	return o
}

func riskDetect(userID, uuid string) okta.LogEvent {
	return okta.LogEvent{UUID: uuid, EventType: okta.EventUserRiskDetect, DisplayMessage: "User risk detected",
		Actor:        okta.Actor{ID: "0oaitp", Type: "PublicClientApp", AlternateID: "Okta Identity Threat Protection"},
		Target:       []okta.Actor{{ID: userID, Type: "User"}},
		DebugContext: &okta.DebugContext{DebugData: map[string]json.RawMessage{"risk": json.RawMessage(`"{previousLevel=LOW, level=HIGH, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}"`)}},
	}
}

func (o org) env(key string) string {
	return map[string]string{"OKTA_ORG_URL": o.srv.URL, "OKTA_API_TOKEN": apiToken, "OKTA_EVENT_HOOK_SECRET": hookSecret}[key]
}

// responder runs the program in-process; stop ends it and returns its
// error.
type responder struct {
	out  *output
	stop func() error
}

func start(t *testing.T, o org, args ...string) responder {
	t.Helper()
	out := newOutput()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, o.env, out) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return responder{out: out, stop: stop}
}

// polledTwice waits until the poller asked for the page after its first
// one: every event of the first page has then been accepted by the runner.
func polledTwice(t *testing.T, o org, before int) {
	t.Helper()
	require.NoError(t, o.srv.Await(t.Context(), func() bool {
		n := 0
		for _, r := range o.srv.Requests()[before:] {
			if r.Op == oktatest.OpLogs && strings.Contains(r.Query, "after=") {
				n++
			}
		}
		return n >= 1
	}))
}

func readAudit(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	_, err = audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err, "the audit trail's hash chain must verify")
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	var out []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r audit.Record
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		out = append(out, r)
	}
	require.NoError(t, sc.Err())
	return out
}

// outcomes returns each subject's run outcome ("" while waiting for
// approval) and whether an approval was requested.
func outcomes(recs []audit.Record) (resolved map[string]string, approvals map[string]bool) {
	resolved, approvals = map[string]string{}, map[string]bool{}
	for _, r := range recs {
		switch r.Type {
		case audit.TypeRunResolved:
			resolved[strings.TrimPrefix(r.Subject, "okta:")] = r.Outcome
		case audit.TypeApprovalRequested:
			approvals[strings.TrimPrefix(r.Subject, "okta:")] = true
		}
	}
	return resolved, approvals
}

// decisions returns each subject's decided response.
func decisions(recs []audit.Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.Type == audit.TypeDecision {
			out[strings.TrimPrefix(r.Subject, "okta:")] = r.Outcome
		}
	}
	return out
}

var listening = regexp.MustCompile(`event hook receiver listening.* url=(\S+)`)

func TestResponderEndToEnd(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	dir := t.TempDir()
	common := []string{"--poll-interval", "50ms", "--since", "1h", "--listen", "127.0.0.1:0"}

	// 1. Shadow mode: everything runs, nothing is written to Okta.
	shadow := start(t, o, append(common, "--audit", filepath.Join(dir, "shadow.jsonl"), "--state", filepath.Join(dir, "shadow-state.json"))...)
	polledTwice(t, o, 0)
	require.NoError(t, shadow.stop())
	assert.Equal(t, 0, o.srv.Writes(), "shadow mode wrote to Okta")
	recs := readAudit(t, filepath.Join(dir, "shadow.jsonl"))
	res, _ := outcomes(recs)
	assert.Equal(t, "dry-run", res[o.ana])
	assert.Equal(t, "dry-run", res[o.root])
	dec := decisions(recs)
	assert.Equal(t, "contain", dec[o.ana], "a high-risk standard user is contained automatically")
	assert.Equal(t, "approve", dec[o.root], "a high-risk SUPER_ADMIN needs approval")

	// 2. Enforce: the poller and the Event Hook receiver both feed the
	// runner.
	auditPath, statePath := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "state.json")
	before := len(o.srv.Requests())
	live := start(t, o, append(common, "--enforce", "--audit", auditPath, "--state", statePath)...)
	url, err := live.out.waitMatch(t.Context(), listening)
	require.NoError(t, err)
	hc := http.DefaultClient
	require.NoError(t, oktatest.VerifyEventHook(t.Context(), hc, url, okta.DefaultHookHeader, hookSecret))
	// Bob's risk arrives only through the hook. A forged delivery is
	// refused and changes nothing.
	bobEvent := riskDetect(o.bob, "hook-only-bob-1")
	bobEvent.Published = time.Now().UTC()
	forged, err := oktatest.PostEventHook(t.Context(), hc, url, okta.DefaultHookHeader, "not-the-secret", o.srv.EventHookBody(bobEvent))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, forged)
	polledTwice(t, o, before)
	u, _ := o.srv.User(o.bob)
	assert.Equal(t, okta.StatusActive, u.Status, "an unauthenticated delivery was processed")
	for {
		st, err := oktatest.PostEventHook(t.Context(), hc, url, okta.DefaultHookHeader, hookSecret, o.srv.EventHookBody(bobEvent))
		require.NoError(t, err)
		if st == http.StatusOK {
			break
		}
		require.Equal(t, http.StatusServiceUnavailable, st) // the receiver's Run has not started yet
	}
	require.NoError(t, o.srv.Await(t.Context(), func() bool {
		u, _ := o.srv.User(o.bob)
		return u.Status == okta.StatusSuspended && o.srv.Sessions(o.bob) == 0
	}))
	_, err = live.out.waitMatch(t.Context(), regexp.MustCompile(`(approval requested).*`+regexp.QuoteMeta("okta:"+o.root)))
	require.NoError(t, err)
	require.NoError(t, live.stop())

	for _, id := range []string{o.ana, o.bob} {
		u, _ := o.srv.User(id)
		assert.Equal(t, okta.StatusSuspended, u.Status, "a high-risk standard user must be suspended")
		assert.Zero(t, o.srv.Sessions(id), "and their sessions cleared")
	}
	u, _ = o.srv.User(o.root)
	assert.Equal(t, okta.StatusActive, u.Status, "the SUPER_ADMIN must wait for approval")
	assert.Equal(t, 1, o.srv.Sessions(o.root))
	res, appr := outcomes(readAudit(t, auditPath))
	assert.Equal(t, "contained", res[o.ana])
	assert.Equal(t, "contained", res[o.bob])
	assert.True(t, appr[o.root], "the SUPER_ADMIN's containment must go to approval")
	assert.NotContains(t, res, o.root)
	writes := o.srv.Writes()
	assert.Equal(t, 4, writes, "two suspensions and two session clears")
	state, err := os.ReadFile(statePath)
	require.NoError(t, err)
	assert.Contains(t, string(state), okta.DefaultCursorKey, "the cursor was not persisted")

	// 3. Repeat the whole run from scratch (no cursor, no idempotency
	// records): every signal is processed again and nothing is applied
	// twice.
	again := filepath.Join(dir, "again.jsonl")
	before = len(o.srv.Requests())
	rerun := start(t, o, append(common, "--enforce", "--audit", again, "--state", filepath.Join(dir, "fresh-state.json"))...)
	polledTwice(t, o, before)
	require.NoError(t, rerun.stop())
	assert.Equal(t, writes, o.srv.Writes(), "the repeated run wrote to Okta")
	recs = readAudit(t, again)
	res, appr = outcomes(recs)
	assert.Equal(t, "contained", res[o.ana])
	assert.True(t, appr[o.root])
	already := 0
	for _, r := range recs {
		if r.Type == audit.TypeActionResult && r.Subject == "okta:"+o.ana {
			assert.Equal(t, "already-applied", r.Outcome, "%s on ana", r.Action)
			already++
		}
	}
	assert.Equal(t, 2, already)
	for _, s := range []string{apiToken, hookSecret} {
		for _, p := range []string{auditPath, again} {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.NotContains(t, string(b), s, "a secret reached the audit trail")
		}
		assert.NotContains(t, live.out.String(), s, "a secret reached the log")
	}
}

func TestResponderConfiguration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no org", map[string]string{}, nil, "OKTA_ORG_URL is required"},
		{"no credential", map[string]string{"OKTA_ORG_URL": "https://example.okta.com"}, nil, "set OKTA_API_TOKEN"},
		{"both credentials", map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_API_TOKEN": "t", "OKTA_CLIENT_ID": "c"}, nil, "not both"},
		{"missing key file", map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_CLIENT_ID": "c", "OKTA_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, nil, "OKTA_PRIVATE_KEY_FILE"},
		{"hook without secret", map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_API_TOKEN": "t"}, []string{"--listen", "127.0.0.1:0"}, "OKTA_EVENT_HOOK_SECRET is required"},
		{"bad flag", map[string]string{}, []string{"--poll-interval", "0s"}, "--poll-interval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := run(t.Context(), tc.args, func(k string) string { return tc.env[k] }, &bytes.Buffer{})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestResponderRefusedToken(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	env := func(k string) string {
		if k == "OKTA_API_TOKEN" {
			return "a-revoked-token"
		}
		return o.env(k)
	}
	out := &bytes.Buffer{}
	dir := t.TempDir()
	err := run(t.Context(), []string{"--audit", filepath.Join(dir, "a.jsonl"), "--state", filepath.Join(dir, "s.json")}, env, out)
	require.ErrorIs(t, err, playbook.ErrUnauthenticated)
	assert.NotContains(t, err.Error()+out.String(), "a-revoked-token")
	assert.Zero(t, o.srv.Writes())
}
