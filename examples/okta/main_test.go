package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

const (
	apiToken   = "e2e-api-token-7f3a"
	hookSecret = "e2e-hook-secret-91c2"
	// linkKeyHex is IAMPLAYBOOK_LINK_KEY: 32 bytes, hex.
	linkKeyHex = "5f0c2a9e7b3d41c8a6e09f1d2b7c48e3a1d6f0b9c2e74a5d8b3f1e6c0a9d2b47"
	// webhookSecret is IAMPLAYBOOK_WEBHOOK_SECRET, shared with the
	// on-call system.
	webhookSecret = "e2e-webhook-secret-0123456789abcdef"
	// The approvers of the SUPER_ADMIN's containment.
	lead   = "secops-lead@example.com"
	deputy = "secops-deputy@example.com"
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
	return map[string]string{
		"OKTA_ORG_URL": o.srv.URL, "OKTA_API_TOKEN": apiToken, "OKTA_EVENT_HOOK_SECRET": hookSecret,
		"IAMPLAYBOOK_LINK_KEY": linkKeyHex, "IAMPLAYBOOK_WEBHOOK_SECRET": webhookSecret,
	}[key]
}

// envWith is o's environment with extra settings on top.
func envWith(o org, extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		return o.env(k)
	}
}

// responder runs the program in-process; stop ends it and returns its
// error.
type responder struct {
	out  *output
	stop func() error
}

func start(t *testing.T, o org, args ...string) responder {
	t.Helper()
	return startEnv(t, o.env, args...)
}

func startEnv(t *testing.T, env func(string) string, args ...string) responder {
	t.Helper()
	out := newOutput()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, env, out) }()
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

// outcomes returns each subject's run outcome, keyed by subject id (its
// last run) and by "id|decision rule", and whether an approval was
// requested. A run waiting for approval has no outcome yet.
func outcomes(recs []audit.Record) (resolved map[string]string, approvals map[string]bool) {
	resolved, approvals = map[string]string{}, map[string]bool{}
	for _, r := range recs {
		switch r.Type {
		case audit.TypeRunResolved:
			subject := strings.TrimPrefix(r.Subject, "okta:")
			resolved[subject] = r.Outcome
			if rule, ok := r.Data["rule"].(string); ok {
				resolved[subject+"|"+rule] = r.Outcome
			}
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

// verdicts returns each subject's accepted verdicts as "approver/channel".
func verdicts(recs []audit.Record) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		if r.Type == audit.TypeVerdict {
			k := strings.TrimPrefix(r.Subject, "okta:")
			out[k] = append(out[k], fmt.Sprintf("%s/%v", r.Actor, r.Data["channel"]))
		}
	}
	return out
}

var (
	listening = regexp.MustCompile(`event hook receiver listening.* url=(\S+)`)
	// tokenRE reads the approval page's hidden inputs: the form token and
	// the summary hash the approver saw.
	tokenRE = regexp.MustCompile(`name="(csrf|h)" value="([^"]+)"`)
)

// The matrix rules of root's two requests: the containment of a
// high-risk privileged account, and the removal of a newly granted admin
// role.
const (
	ruleHighPrivileged = "matrix/high-privileged"
	ruleRoleAssigned   = "matrix/role-assigned"
)

// linkFor matches the log line that delivers approver's link to the
// request about subject that decision rule raised.
func linkFor(subjectID, rule, approver string) *regexp.Regexp {
	return regexp.MustCompile(`msg="approval requested".* subject=okta:` + regexp.QuoteMeta(subjectID) +
		`.* rule=` + regexp.QuoteMeta(rule) + ` .* approver=` + regexp.QuoteMeta(approver) + ` url="([^"]+)"`)
}

// webhookSink is the on-call system: it checks every delivery's signature
// and keeps the payloads.
type webhookSink struct {
	*httptest.Server
	mu       sync.Mutex
	payloads []approve.WebhookPayload
	bad      int
	changed  chan struct{}
}

func newWebhookSink(t *testing.T, secret string) *webhookSink {
	t.Helper()
	w := &webhookSink{changed: make(chan struct{})}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		w.mu.Lock()
		defer w.mu.Unlock()
		var p approve.WebhookPayload
		if err == nil {
			err = approve.VerifyWebhook([]byte(secret), r.Header, body, time.Now(), 5*time.Minute)
		}
		if err == nil {
			err = json.Unmarshal(body, &p)
		}
		if err != nil {
			w.bad++
			http.Error(rw, err.Error(), http.StatusUnauthorized)
			return
		}
		w.payloads = append(w.payloads, p)
		close(w.changed)
		w.changed = make(chan struct{})
		rw.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(w.Close)
	return w
}

// await waits until a payload of kind arrived about approval id.
func (w *webhookSink) await(ctx context.Context, kind, approvalID string) (approve.WebhookPayload, error) {
	for {
		w.mu.Lock()
		ch := w.changed
		for _, p := range w.payloads {
			if p.Kind == kind && p.ApprovalID == approvalID {
				w.mu.Unlock()
				return p, nil
			}
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return approve.WebhookPayload{}, ctx.Err()
		}
	}
}

// awaitInvitation waits until the personal link of approver to approval
// id arrived.
func (w *webhookSink) awaitInvitation(ctx context.Context, approvalID, approver string) (approve.WebhookPayload, error) {
	for {
		w.mu.Lock()
		ch := w.changed
		for _, p := range w.payloads {
			if p.Kind == "invitation" && p.ApprovalID == approvalID && slices.Contains(p.Recipients, approver) {
				w.mu.Unlock()
				return p, nil
			}
		}
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return approve.WebhookPayload{}, ctx.Err()
		}
	}
}

// storedCursor reads the System Log cursor from the run store at path, as
// a restarted responder does.
func storedCursor(t *testing.T, path, org string) string {
	t.Helper()
	u, err := url.Parse(org)
	require.NoError(t, err)
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	v, ok, err := st.Get(t.Context(), okta.DefaultCursorKey(u.Host))
	require.NoError(t, err)
	require.True(t, ok, "no System Log cursor in %s", path)
	return v
}

// cursorQuery is the query of a stored next link.
func cursorQuery(t *testing.T, link string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	return u.RawQuery
}

// firstPoll returns the query of the first System Log read of a poller
// among reqs (the start-up credential check, a one-event read bounded by
// until, is not one).
func firstPoll(reqs []oktatest.Request) string {
	for _, r := range reqs {
		if r.Path == "/api/v1/logs" && !strings.Contains(r.Query, "until=") {
			return r.Query
		}
	}
	return ""
}

// duplicates counts the events the runner was handed again.
func duplicates(recs []audit.Record) int {
	n := 0
	for _, r := range recs {
		if r.Type == audit.TypeEventDuplicate {
			n++
		}
	}
	return n
}

// frontEnd stands for the HTTPS front end at the approval pages' public
// address (--approval-base-url): it stays put while the responder behind
// it restarts on a new port.
type frontEnd struct {
	*httptest.Server
	backend atomic.Pointer[url.URL]
}

var pagesListening = regexp.MustCompile(`approval pages listening.* addr=(\S+)`)

func newFrontEnd(t *testing.T) *frontEnd {
	t.Helper()
	f := &frontEnd{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(f.backend.Load())
		r.Out.Host = r.In.Host
	}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.backend.Load() == nil {
			http.Error(w, "no backend", http.StatusBadGateway)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(f.Close)
	return f
}

// follow points the front end at r's approval pages.
func (f *frontEnd) follow(t *testing.T, r responder) {
	t.Helper()
	addr, err := r.out.waitMatch(t.Context(), pagesListening)
	require.NoError(t, err)
	f.backend.Store(&url.URL{Scheme: "http", Host: addr})
}

// answerOnPage answers an approval link as a browser does: GET the page,
// read its form, POST it with decision ("approve" or "deny").
func answerOnPage(t *testing.T, link, decision, wantOnPage string) {
	t.Helper()
	resp, err := http.Get(link)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	assert.Contains(t, string(page), wantOnPage, "the page shows the case")
	form := url.Values{"decision": {decision}, "reason": {"checked with the account owner by phone"}}
	for _, m := range tokenRE.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	require.Len(t, form, 4, "the page carries its form token and summary hash")
	resp, err = http.Post(link, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	want := map[string]string{"approve": "Your approval was recorded", "deny": "Your denial was recorded"}[decision]
	assert.Contains(t, string(body), want)
}

// TestResponderEndToEnd drives the responder against the emulated org
// through shadow mode, enforcement with web approvals across a restart on
// the same SQLite file, a refused second instance, and a repeat from
// scratch approved through the operator CLI's path.
func TestResponderEndToEnd(t *testing.T) {
	t.Parallel()
	o := newOrg(t)
	dir := t.TempDir()
	hooks := newWebhookSink(t, webhookSecret)
	front := newFrontEnd(t)
	common := []string{"--poll-interval", "50ms", "--since", "1h", "--listen", "127.0.0.1:0"}

	// 1. Shadow mode: everything runs, nothing is written to Okta and
	// nobody is asked to approve.
	shadow := start(t, o, append(common, "--db", filepath.Join(dir, "shadow.db"),
		"--audit", filepath.Join(dir, "shadow.jsonl"),
		"--approvers", lead, "--approval-listen", "127.0.0.1:0")...)
	polledTwice(t, o, 0)
	require.NoError(t, shadow.stop())
	assert.Equal(t, 0, o.srv.Writes(), "shadow mode wrote to Okta")
	assert.NotContains(t, shadow.out.String(), "approval requested", "shadow mode asked for approval")
	recs := readAudit(t, filepath.Join(dir, "shadow.jsonl"))
	res, _ := outcomes(recs)
	assert.Equal(t, "dry-run", res[o.ana])
	assert.Equal(t, "dry-run", res[o.root])
	dec := decisions(recs)
	assert.Equal(t, "contain", dec[o.ana], "a high-risk standard user is contained automatically")
	assert.Equal(t, "approve", dec[o.root], "a high-risk SUPER_ADMIN needs approval")

	// 2. Enforce with web approvals: the poller and the Event Hook
	// receiver both feed the runner; the SUPER_ADMIN waits for approval.
	db := filepath.Join(dir, "live.db")
	auditPath := filepath.Join(dir, "audit.jsonl")
	liveArgs := append(common, "--enforce", "--db", db, "--audit", auditPath,
		"--approvers", lead+","+deputy, "--approval-listen", "127.0.0.1:0", "--approval-base-url", front.URL+"/approve",
		"--approval-webhook", hooks.URL)
	before := len(o.srv.Requests())
	live := start(t, o, liveArgs...)
	front.follow(t, live)
	hookURL, err := live.out.waitMatch(t.Context(), listening)
	require.NoError(t, err)
	hc := http.DefaultClient
	require.NoError(t, oktatest.VerifyEventHook(t.Context(), hc, hookURL, okta.DefaultHookHeader, hookSecret))
	// Bob's risk arrives only through the hook. A forged delivery is
	// refused and changes nothing.
	bobEvent := riskDetect(o.bob, "hook-only-bob-1")
	bobEvent.Published = time.Now().UTC()
	forged, err := oktatest.PostEventHook(t.Context(), hc, hookURL, okta.DefaultHookHeader, "not-the-secret", o.srv.EventHookBody(bobEvent))
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, forged)
	polledTwice(t, o, before)
	u, _ := o.srv.User(o.bob)
	assert.Equal(t, okta.StatusActive, u.Status, "an unauthenticated delivery was processed")
	for {
		st, err := oktatest.PostEventHook(t.Context(), hc, hookURL, okta.DefaultHookHeader, hookSecret, o.srv.EventHookBody(bobEvent))
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
	// Every eligible approver gets a personal link in the log, and the
	// on-call webhook hears of the request with whom to ask.
	leadLink, err := live.out.waitMatch(t.Context(), linkFor(o.root, ruleHighPrivileged, lead))
	require.NoError(t, err)
	deputyLink, err := live.out.waitMatch(t.Context(), linkFor(o.root, ruleHighPrivileged, deputy))
	require.NoError(t, err)
	assert.NotEqual(t, leadLink, deputyLink)
	// The grant of root's admin role also waits: its removal needs
	// approval too.
	roleLink, err := live.out.waitMatch(t.Context(), linkFor(o.root, ruleRoleAssigned, deputy))
	require.NoError(t, err)
	approvalID := pendingFor(t, db, o.root, ruleHighPrivileged).Approval.Request.ID
	requested, err := hooks.await(t.Context(), "requested", approvalID)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{lead, deputy}, requested.Recipients)
	assert.Equal(t, "okta-privileged", requested.Rule)
	// Each approver's personal link reaches the on-call system too, the
	// same link the log carries.
	for who, link := range map[string]string{lead: leadLink, deputy: deputyLink} {
		inv, err := hooks.awaitInvitation(t.Context(), approvalID, who)
		require.NoError(t, err)
		assert.Equal(t, []string{who}, inv.Recipients)
		assert.Equal(t, link, inv.Link, "the webhook delivers %s's link", who)
	}
	// The deputy denies the role removal before the restart: that link is
	// spent from now on, in the database and not only in this process.
	answerOnPage(t, roleLink, "deny", "Super Administrator")

	// 3. A second responder on the same database fails at once, naming
	// the lock, before it touches Okta, the state file or the trail.
	second := &bytes.Buffer{}
	err = run(t.Context(), append(common, "--enforce", "--audit", filepath.Join(dir, "second.jsonl")),
		envWith(o, map[string]string{"IAMPLAYBOOK_DB": db}), second)
	require.ErrorIs(t, err, playbook.ErrStoreLocked)
	assert.Contains(t, err.Error(), "is in use by another responder")
	assert.Contains(t, err.Error(), "okta responder, pid", "the error names the holder")
	assert.NoFileExists(t, filepath.Join(dir, "second.jsonl"))
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
	assert.NotContains(t, res, o.root+"|"+ruleHighPrivileged, "the SUPER_ADMIN's containment waits")
	assert.Equal(t, 4, o.srv.Writes(), "two suspensions and two session clears")
	cursorBefore := storedCursor(t, db, o.srv.URL)
	assert.NotEmpty(t, cursorBefore, "the System Log cursor is kept in the run store")
	dupsBefore := duplicates(readAudit(t, auditPath))

	// 4. Restart on the same file: the request survived, the link sent
	// before the restart approves it through the restarted pages, and the
	// link used before the restart is still refused as used.
	beforeRestart := len(o.srv.Requests())
	restarted := start(t, o, liveArgs...)
	front.follow(t, restarted)
	_, err = restarted.out.waitMatch(t.Context(), listening)
	require.NoError(t, err)
	resp, err := http.Get(front.URL + "/elsewhere")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the pages are served at the base URL's path only")
	resp, err = http.Get(roleLink)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusGone, resp.StatusCode, "a link used before the restart is refused after it")
	assert.Contains(t, string(page), "already used")
	answerOnPage(t, leadLink, "approve", "okta:"+o.root)
	require.NoError(t, o.srv.Await(t.Context(), func() bool {
		u, _ := o.srv.User(o.root)
		return u.Status == okta.StatusSuspended && o.srv.Sessions(o.root) == 0
	}))
	settled, err := hooks.await(t.Context(), "settled", approvalID)
	require.NoError(t, err)
	assert.Equal(t, playbook.ApprovalApproved, settled.Status)
	// The lead's link is spent, and the deputy's now shows a closed case.
	for link, want := range map[string]int{leadLink: http.StatusGone, deputyLink: http.StatusConflict} {
		resp, err := http.Get(link)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode)
	}
	require.NoError(t, restarted.stop())
	recs = readAudit(t, auditPath)
	assert.Equal(t, dupsBefore, duplicates(recs),
		"the restarted poller resumed from the stored cursor: no System Log event was emitted again")
	assert.Equal(t, cursorQuery(t, cursorBefore), firstPoll(o.srv.Requests()[beforeRestart:]),
		"the restarted poller's first read is the stored next link, not a new since query")
	res, _ = outcomes(recs)
	assert.Equal(t, "contained", res[o.root+"|"+ruleHighPrivileged], "the approved SUPER_ADMIN is contained")
	assert.Equal(t, "escalated", res[o.root+"|"+ruleRoleAssigned], "the denied role removal goes to people")
	assert.ElementsMatch(t, []string{lead + "/web", deputy + "/web"}, verdicts(recs)[o.root])
	assert.Contains(t, restarted.out.String(), "pending_approvals=0")
	assert.Contains(t, o.srv.Roles(o.root), okta.RoleSuperAdmin, "the denied role removal was not applied")
	writes := o.srv.Writes()
	assert.Equal(t, 6, writes, "and the SUPER_ADMIN's suspension and session clear")

	// 5. Repeat the whole run from scratch (no cursor, no idempotency
	// records, a new database) without approvers: the SUPER_ADMIN's
	// request waits for the operator CLI, survives a restart, and the
	// verdict posted to the file meanwhile is applied on the next start.
	// Nothing is applied twice.
	again, againDB := filepath.Join(dir, "again.jsonl"), filepath.Join(dir, "again.db")
	againArgs := append(common, "--enforce", "--audit", again)
	env := envWith(o, map[string]string{"IAMPLAYBOOK_DB": againDB})
	before = len(o.srv.Requests())
	rerun := startEnv(t, env, againArgs...)
	polledTwice(t, o, before)
	hint, err := rerun.out.waitMatch(t.Context(), regexp.MustCompile(`msg="approval requested".*subject=okta:`+regexp.QuoteMeta(o.root)+`.*answer_with="([^"]+)"`))
	require.NoError(t, err)
	require.NoError(t, rerun.stop())
	assert.Contains(t, hint, "iamplaybook --db "+againDB+" approve ")
	assert.Contains(t, rerun.out.String(), "pending_approvals=2", "the containment and the role removal wait")
	postVerdictAsCLI(t, againDB, pendingFor(t, againDB, o.root, ruleHighPrivileged), "secops@example.com")
	resumed := startEnv(t, env, againArgs...)
	_, err = resumed.out.waitMatch(t.Context(), listening)
	require.NoError(t, err)
	require.NoError(t, resumed.stop())
	assert.Equal(t, writes, o.srv.Writes(), "the repeated run wrote to Okta")
	assert.Contains(t, resumed.out.String(), "pending_approvals=1", "the role removal still waits")
	recs = readAudit(t, again)
	res, appr = outcomes(recs)
	assert.Equal(t, "contained", res[o.ana])
	assert.True(t, appr[o.root])
	assert.Equal(t, "contained", res[o.root+"|"+ruleHighPrivileged])
	assert.NotContains(t, res, o.root+"|"+ruleRoleAssigned, "the role removal waits")
	assert.Equal(t, []string{"secops@example.com/cli"}, verdicts(recs)[o.root])
	already := 0
	for _, r := range recs {
		if r.Type == audit.TypeActionResult && (r.Subject == "okta:"+o.ana || r.Subject == "okta:"+o.root) {
			assert.Equal(t, "already-applied", r.Outcome, "%s on %s", r.Action, r.Subject)
			already++
		}
	}
	assert.Equal(t, 4, already)

	for _, s := range []string{apiToken, hookSecret, linkKeyHex, webhookSecret} {
		for _, p := range []string{auditPath, again} {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.NotContains(t, string(b), s, "a secret reached the audit trail")
		}
		for _, r := range []responder{live, restarted, rerun, resumed} {
			assert.NotContains(t, r.out.String(), s, "a secret reached the log")
		}
		assert.NotContains(t, second.String(), s)
	}
	assert.Zero(t, hooks.bad, "a webhook delivery was not signed with the shared secret")
}

// pendingFor returns the run about subject, raised by decision rule, that
// waits for approval in the database at path, read as the operator CLI
// reads it (also while a runner holds the file).
func pendingFor(t *testing.T, path, subjectID, rule string) playbook.Run {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	runs, err := st.PendingApprovals(t.Context(), 0)
	require.NoError(t, err)
	for _, r := range runs {
		if r.Event.Subject.ID == subjectID && r.Approval.Request.Decision.Rule == rule {
			return r
		}
	}
	t.Fatalf("no approval of rule %s pending for %s in %s", rule, subjectID, path)
	return playbook.Run{}
}

// postVerdictAsCLI approves r's request as `iamplaybook --db path approve
// ID --by approver` does: a verdict posted to the store's inbox, which the
// runner applies.
func postVerdictAsCLI(t *testing.T, path string, r playbook.Run, approver string) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	_, err = st.PostVerdict(t.Context(), playbook.Verdict{
		ApprovalID: r.Approval.Request.ID, Approver: approver, Approve: true, Reason: "verified out of band",
		Channel: "cli", SummaryHash: r.Approval.Request.SummaryHash, At: time.Now().UTC(),
	})
	require.NoError(t, err)
}

// TestResponderConfiguration checks that every misconfiguration is refused
// with an error naming the setting, before anything is opened.
func TestResponderConfiguration(t *testing.T) {
	t.Parallel()
	okOrg := map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_API_TOKEN": "t"}
	withApprovals := map[string]string{"OKTA_ORG_URL": "https://example.okta.com", "OKTA_API_TOKEN": "t", "IAMPLAYBOOK_LINK_KEY": linkKeyHex}
	approvers := []string{"--approvers", "a@example.com,b@example.com"}
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
		{"hook without secret", okOrg, []string{"--listen", "127.0.0.1:0"}, "OKTA_EVENT_HOOK_SECRET is required"},
		{"bad flag", map[string]string{}, []string{"--poll-interval", "0s"}, "--poll-interval"},
		{"empty db", okOrg, []string{"--db", " "}, "--db must name a file"},
		{"approvers without link key", okOrg, approvers, "IAMPLAYBOOK_LINK_KEY is required"},
		{"link key not hex", map[string]string{"OKTA_ORG_URL": "https://x.okta.com", "OKTA_API_TOKEN": "t", "IAMPLAYBOOK_LINK_KEY": "correct horse battery staple, but longer than 32"}, approvers, "neither hex nor base64"},
		{"link key too short", map[string]string{"OKTA_ORG_URL": "https://x.okta.com", "OKTA_API_TOKEN": "t", "IAMPLAYBOOK_LINK_KEY": "base64:c2hvcnQta2V5"}, approvers, "holds 9 bytes"},
		{"quorum above approvers", withApprovals, append(approvers, "--quorum", "3"), "--quorum is 3"},
		{"quorum zero", withApprovals, append(approvers, "--quorum", "0"), "--quorum is 0"},
		{"quorum without approvers", okOrg, []string{"--quorum", "2"}, "need --approvers"},
		{"escalation without approvers", okOrg, []string{"--escalate-to", "ciso@example.com"}, "need --approvers"},
		{"reminders too often", withApprovals, append(approvers, "--approval-remind", "10s"), "RemindEvery is 10s"},
		{"escalation after the deadline", withApprovals, append(approvers, "--escalate-to", "ciso@example.com", "--escalate-after", "5h"), "is not before the Deadline"},
		{"escalation time without tier", withApprovals, append(approvers, "--escalate-after", "1h"), "--escalate-after needs --escalate-to"},
		{"timeout not positive", okOrg, []string{"--approval-timeout", "0s"}, "--approval-timeout must be positive"},
		{"base url relative", withApprovals, append(approvers, "--approval-base-url", "/approve"), "--approval-base-url must be an absolute"},
		{"no approval listener", withApprovals, append(approvers, "--approval-listen", ""), "--approval-listen is required"},
		{"webhook without secret", okOrg, []string{"--approval-webhook", "https://oncall.example.com/hook"}, "IAMPLAYBOOK_WEBHOOK_SECRET must hold at least 32 bytes"},
		{"webhook secret too short", map[string]string{"OKTA_ORG_URL": "https://x.okta.com", "OKTA_API_TOKEN": "t", "IAMPLAYBOOK_WEBHOOK_SECRET": "short"}, []string{"--approval-webhook", "https://oncall.example.com/hook"}, "IAMPLAYBOOK_WEBHOOK_SECRET must hold"},
		{"webhook url bad", map[string]string{"OKTA_ORG_URL": "https://x.okta.com", "OKTA_API_TOKEN": "t", "IAMPLAYBOOK_WEBHOOK_SECRET": webhookSecret}, []string{"--approval-webhook", "oncall"}, "--approval-webhook"},
		{"stray argument", okOrg, []string{"approve"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			// Every refusal comes before the store is opened: the
			// database named here must not be created.
			db := filepath.Join(dir, "never.db")
			env := func(k string) string {
				if k == "IAMPLAYBOOK_DB" {
					return db
				}
				return tc.env[k]
			}
			out := &bytes.Buffer{}
			err := run(t.Context(), tc.args, env, out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NoFileExists(t, db)
			for _, secret := range []string{linkKeyHex, webhookSecret} {
				assert.NotContains(t, err.Error()+out.String(), secret, "a secret reached the error or the log")
			}
		})
	}
}

// TestApprovalRules checks that the approval flags become the rule the
// runner schedules and evaluates: deadline, reminders, quorum and the
// decisive fallback tier.
func TestApprovalRules(t *testing.T) {
	t.Parallel()
	env := func(k string) string {
		return map[string]string{"IAMPLAYBOOK_LINK_KEY": "base64:" + strings.Repeat("QUJD", 12)}[k]
	}
	tests := []struct {
		name  string
		args  []string
		want  playbook.ApprovalSchedule
		rule  func(t *testing.T, r approve.Rule)
		votes []string // approvers whose approvals settle the request, in order
	}{
		{
			name: "defaults", args: []string{"--approvers", "a@example.com"},
			want: playbook.ApprovalSchedule{Timeout: 4 * time.Hour}, votes: []string{"a@example.com"},
		},
		{
			name: "two of three with reminders and a fallback",
			args: []string{"--approvers", "a@example.com, b@example.com,c@example.com", "--quorum", "2", "--approval-timeout", "2h",
				"--approval-remind", "20m", "--escalate-to", "ciso@example.com"},
			want:  playbook.ApprovalSchedule{Timeout: 2 * time.Hour, RemindEvery: 20 * time.Minute, Escalations: []time.Duration{time.Hour}},
			votes: []string{"a@example.com", "c@example.com"},
		},
		{
			name: "explicit escalation time",
			args: []string{"--approvers", "a@example.com", "--approval-timeout", "1h", "--escalate-to", "ciso@example.com,cto@example.com", "--escalate-after", "15m"},
			want: playbook.ApprovalSchedule{Timeout: time.Hour, Escalations: []time.Duration{15 * time.Minute}},
			rule: func(t *testing.T, r approve.Rule) {
				require.Len(t, r.Escalation, 1)
				assert.True(t, r.Escalation[0].Decisive, "the fallback tier settles alone")
				assert.Equal(t, []string{"ciso@example.com", "cto@example.com"}, r.Escalation[0].Approvers)
			},
			votes: []string{"a@example.com"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseFlags(tc.args, env, io.Discard)
			require.NoError(t, err)
			rules := o.approval.rules()
			require.NoError(t, rules.Validate())
			d := playbook.Decision{Response: playbook.RespondApprove, Approval: approvalRule}
			sched, err := rules.ApprovalSchedule(d)
			require.NoError(t, err)
			assert.Equal(t, tc.want, sched)
			if tc.rule != nil {
				r, err := rules.Rule(approvalRule)
				require.NoError(t, err)
				tc.rule(t, r)
			}
			now := time.Now()
			req := playbook.ApprovalRequest{ID: "r1:approval", Decision: d, RequestedAt: now, Deadline: now.Add(sched.Timeout)}
			_, err = rules.Evaluate(req, nil, playbook.Verdict{Approver: "mallory@example.com", Approve: true, At: now})
			require.ErrorIs(t, err, approve.ErrIneligible, "only the listed approvers count")
			var prior []playbook.Verdict
			for i, who := range tc.votes {
				v := playbook.Verdict{Approver: who, Approve: true, At: now}
				status, err := rules.Evaluate(req, prior, v)
				require.NoError(t, err)
				want := playbook.ApprovalPending
				if i == len(tc.votes)-1 {
					want = playbook.ApprovalApproved
				}
				assert.Equal(t, want, status, "after %d approvals", i+1)
				prior = append(prior, v)
			}
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
	err := run(t.Context(), []string{"--db", filepath.Join(dir, "r.db"), "--audit", filepath.Join(dir, "a.jsonl")}, env, out)
	require.ErrorIs(t, err, playbook.ErrUnauthenticated)
	assert.NotContains(t, err.Error()+out.String(), "a-revoked-token")
	assert.Zero(t, o.srv.Writes())
}

// FuzzParseKey checks that the link key decoder never panics, accepts only
// keys of at least web.MinKeySize bytes, and never quotes the value.
func FuzzParseKey(f *testing.F) {
	for _, seed := range []string{linkKeyHex, "base64:" + strings.Repeat("QUJD", 12), "", "zz", "base64:", "base64:!!", strings.Repeat("ab", 31)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, v string) {
		key, err := parseKey("IAMPLAYBOOK_LINK_KEY", v)
		if err != nil {
			// The message is built from fixed text and byte counts only.
			fixed := "IAMPLAYBOOK_LINK_KEY is required when --approvers is set: the approval links are signed with it" +
				" is neither hex nor base64 with the prefix \"base64:\" holds bytes; it needs at least random bytes"
			if tv := strings.TrimSpace(v); len(tv) >= 8 && strings.Contains(err.Error(), tv) {
				assert.Contains(t, fixed, tv, "the error quotes the key")
			}
			return
		}
		assert.GreaterOrEqual(t, len(key), web.MinKeySize)
	})
}
