package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

const (
	appID     = "6a1f0c2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"
	appSecret = "responder-secret-never-logged"
)

// tenant is the emulated directory the responder runs against.
type tenant struct {
	emu                              *entratest.Emulator
	ana, gus, breakGlass, dave, erin string
	ray                              string
}

// newTenant seeds: Ana (standard user), Gus (Global Administrator), the
// break-glass account (Global Administrator), Dave and Erin (standard
// users whose disabling Graph refuses with 403 and 401), each with a high
// risk detection; and Ray, just made Global Administrator by an app.
func newTenant(t *testing.T) *tenant {
	return seedTenant(t, func(tn *tenant) []string { return []string{tn.ana, tn.gus, tn.breakGlass, tn.dave, tn.erin} })
}

// newPrivilegedTenant seeds the same directory, but only Gus's risk
// detection and Ray's grant: the two cases that wait for approval.
func newPrivilegedTenant(t *testing.T) *tenant {
	return seedTenant(t, func(tn *tenant) []string { return []string{tn.gus} })
}

// seedTenant seeds the directory with a high risk detection for the users
// risky names (each Identity Protection read takes a second of the
// tenant's throttle, so tests seed only what they check).
func seedTenant(t *testing.T, risky func(tn *tenant) []string) *tenant {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	require.NoError(t, emu.AddSecretApp(appID, appSecret))
	tn := &tenant{emu: emu}
	add := func(upn, name string) string {
		id, err := emu.AddUser(entratest.User{UserPrincipalName: upn, DisplayName: name, Department: "Sales", Sessions: 2})
		require.NoError(t, err)
		return id
	}
	tn.ana = add("ana@contoso.example", "Ana Souza")
	tn.gus = add("gus@contoso.example", "Gus Admin")
	tn.breakGlass = add("breakglass@contoso.example", "Emergency Access")
	tn.dave = add("dave@contoso.example", "Dave Denied")
	tn.erin = add("erin@contoso.example", "Erin Expired")
	tn.ray = add("ray@contoso.example", "Ray Ortiz")
	for _, id := range []string{tn.gus, tn.breakGlass} {
		_, err := emu.AssignRole(id, entratest.GlobalAdministrator)
		require.NoError(t, err)
	}
	for _, id := range risky(tn) {
		_, err := emu.AddRiskDetection(entratest.RiskDetection{UserID: id, RiskLevel: "high", RiskEventType: "unfamiliarFeatures",
			DetectedAt: time.Now().Add(-10 * time.Minute)})
		require.NoError(t, err)
	}
	_, err := emu.AssignRole(tn.ray, entratest.GlobalAdministrator)
	require.NoError(t, err)
	_, err = emu.AddRoleAssignmentAudit(entratest.RoleAssignmentAudit{TargetUserID: tn.ray, RoleID: entratest.GlobalAdministrator, At: time.Now().Add(-5 * time.Minute)})
	require.NoError(t, err)
	emu.FailNext(entratest.Fault{Method: http.MethodPatch, PathContains: "/users/" + tn.dave, Status: http.StatusForbidden, Times: 1000})
	emu.FailNext(entratest.Fault{Method: http.MethodPatch, PathContains: "/users/" + tn.erin, Status: http.StatusUnauthorized, Times: 1000})
	return tn
}

// linkKey signs the approval links in the tests; webhookSecret signs the
// webhook's POSTs.
const (
	linkKey       = "test-link-key-0123456789-abcdefghijklmnop"
	webhookSecret = "test-webhook-secret-0123456789-abcdefghij"
	lead          = "lead@contoso.example"
	// pagesURL is where approvers reach the pages (a front end in
	// production); the tests send the requests to the listen address.
	pagesURL = "http://approvals.contoso.example/approve"
)

func (tn *tenant) env(extra map[string]string) func(string) string {
	m := map[string]string{"ENTRA_TENANT_ID": tn.emu.TenantID(), "ENTRA_CLIENT_ID": appID, "ENTRA_CLIENT_SECRET": appSecret}
	for k, v := range extra {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

// args are the responder's flags with its database and audit trail in dir.
func (tn *tenant) args(dir string, extra ...string) []string {
	return append([]string{"--graph-url", tn.emu.GraphURL(), "--token-url", tn.emu.TokenURL(),
		"--db", filepath.Join(dir, "runs.db"), "--audit", filepath.Join(dir, "audit.jsonl"),
		"--poll-interval", "2s", "--break-glass", "breakglass@contoso.example"}, extra...)
}

// withApprovals are the flags that turn the web approval channel on, with
// the lead as the one approver.
var withApprovals = []string{"--approvers", lead, "--approval-listen", "127.0.0.1:0", "--approval-base-url", pagesURL}

// syncBuffer is an io.Writer safe for the responder's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// trail reads the audit file as far as it is complete.
func trail(path string) []audit.Record {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[:i+1]
	}
	recs, err := audit.ReadJSONL(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	return recs
}

// outcomes maps each subject ("entra:{id}") to its runs' terminal outcomes
// and to its approval requests.
func outcomes(recs []audit.Record) (resolved map[string][]string, approvals map[string]int) {
	resolved, approvals = map[string][]string{}, map[string]int{}
	for _, r := range recs {
		switch r.Type {
		case audit.TypeRunResolved:
			resolved[r.Subject] = append(resolved[r.Subject], r.Outcome)
		case audit.TypeApprovalRequested:
			approvals[r.Subject]++
		}
	}
	return resolved, approvals
}

// responder is one start of the program, in process.
type responder struct {
	t         *testing.T
	out       *syncBuffer
	auditPath string
	cancel    context.CancelFunc
	errc      chan error
}

// start runs the program with args and env until stop.
func start(t *testing.T, args []string, env func(string) string) *responder {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &responder{t: t, out: &syncBuffer{}, cancel: cancel, errc: make(chan error, 1)}
	for i, a := range args {
		if a == "--audit" {
			r.auditPath = args[i+1]
		}
	}
	go func() { r.errc <- run(ctx, args, env, r.out) }()
	t.Cleanup(func() {
		cancel()
		<-r.errc
	})
	return r
}

// waitFor waits until done reports true about the audit trail (checked
// as it grows).
func (r *responder) waitFor(what string, done func([]audit.Record) bool) {
	r.t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(2 * time.Minute)
	for !done(trail(r.auditPath)) {
		select {
		case err := <-r.errc:
			r.errc <- err
			r.t.Fatalf("the responder stopped before %s: %v\n%s", what, err, r.out.String())
		case <-deadline:
			r.t.Fatalf("%s did not happen; log:\n%s", what, r.out.String())
		case <-tick.C:
		}
	}
}

// stop stops the program, checks it stopped cleanly and that the audit
// trail's hash chain verifies, and returns the trail and the log.
func (r *responder) stop() ([]audit.Record, string) {
	r.t.Helper()
	r.cancel()
	err := <-r.errc
	r.errc <- nil // for the cleanup
	require.NoError(r.t, err, r.out.String())
	f, err := os.Open(r.auditPath)
	require.NoError(r.t, err)
	defer f.Close()
	_, err = audit.Verify(f, audit.VerifyOptions{})
	require.NoError(r.t, err, "the audit trail's hash chain verifies")
	return trail(r.auditPath), r.out.String()
}

// runUntil runs the responder until done reports true about the audit
// trail, then stops it and returns the final trail and the log.
func runUntil(t *testing.T, args []string, env func(string) string, done func([]audit.Record) bool) ([]audit.Record, string) {
	t.Helper()
	r := start(t, args, env)
	r.waitFor("the expected runs", done)
	return r.stop()
}

var (
	linkLine   = regexp.MustCompile(`msg="approval (?:requested|reminder|escalated to tier \d+)" approval_id=(\S+) subject=(\S+) .* approver=(\S+) url=("(?:[^"\\]|\\.)*"|\S+)`)
	listenLine = regexp.MustCompile(`approval_listen=(\S+)`)
	formField  = regexp.MustCompile(`name="(csrf|h)" value="([^"]+)"`)
)

// link returns the first approval link the log delivered to approver
// about subject.
func link(t *testing.T, log, approver, subject string) string {
	t.Helper()
	for _, m := range linkLine.FindAllStringSubmatch(log, -1) {
		if m[3] != approver || m[2] != subject {
			continue
		}
		u := m[4]
		if strings.HasPrefix(u, `"`) {
			var err error
			u, err = strconv.Unquote(u)
			require.NoError(t, err)
		}
		require.True(t, strings.HasPrefix(u, pagesURL+"?"), "the link points at --approval-base-url: %s", u)
		return u
	}
	t.Fatalf("no approval link for %s about %s in the log:\n%s", approver, subject, log)
	return ""
}

// answer does what an approver's browser does with link: open it from the
// pages the responder serves (at its listen address, printed in its
// start-up line), read the page, and press the button for decision. It
// returns the page that answers the post.
func answer(t *testing.T, log, link, decision string) string {
	t.Helper()
	m := listenLine.FindStringSubmatch(log)
	require.NotNil(t, m, "the start-up line names the listen address")
	u := "http://" + m[1] + strings.TrimPrefix(link, "http://approvals.contoso.example")
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	resp, err := client.Get(u)
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	form := url.Values{"decision": {decision}, "reason": {"checked with the user by phone"}}
	for _, f := range formField.FindAllStringSubmatch(string(page), -1) {
		form.Set(f[1], f[2])
	}
	require.Len(t, form, 4, "the page carries its form token and summary hash:\n%s", page)
	resp, err = client.Post(u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	return string(body)
}

func key(id string) string { return "entra:" + id }

func all(outs []string, want string) bool {
	if len(outs) == 0 {
		return false
	}
	for _, o := range outs {
		if o != want {
			return false
		}
	}
	return true
}

// webhookReceiver is an on-call system receiving the approval webhook: it
// checks each POST's signature and keeps the payloads.
type webhookReceiver struct {
	mu       sync.Mutex
	payloads []approve.WebhookPayload
	refused  int
}

func (w *webhookReceiver) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err == nil {
		err = approve.VerifyWebhook([]byte(webhookSecret), r.Header, body, time.Now(), 5*time.Minute)
	}
	var p approve.WebhookPayload
	if err == nil {
		err = json.Unmarshal(body, &p)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		w.refused++
		http.Error(rw, err.Error(), http.StatusUnauthorized)
		return
	}
	w.payloads = append(w.payloads, p)
}

func (w *webhookReceiver) received() ([]approve.WebhookPayload, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.payloads), w.refused
}

// TestEnforce runs the responder in enforce mode against the emulator, on
// a SQLite file, with the web approval channel and the webhook: the
// standard user is contained; the Global Administrators go to approval and
// their approver receives links, in the log and (as recipients) through the
// signed webhook; approving Gus's through the web page contains him,
// denying Ray's grant leaves it in place and escalates; the break-glass
// account is never touched; 403 and 401 escalate with Graph's error code
// in the audit trail; no secret reaches the log or the trail.
func TestEnforce(t *testing.T) {
	t.Parallel()
	tn := newTenant(t)
	hooks := &webhookReceiver{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	dir := t.TempDir()
	env := tn.env(map[string]string{"IAMPLAYBOOK_LINK_KEY": linkKey, "IAMPLAYBOOK_WEBHOOK_SECRET": webhookSecret})
	args := tn.args(dir, append(slices.Clone(withApprovals), "--enforce", "--approval-webhook", hookSrv.URL)...)

	r := start(t, args, env)
	r.waitFor("the first runs", func(recs []audit.Record) bool {
		res, appr := outcomes(recs)
		return len(res[key(tn.ana)]) > 0 && len(res[key(tn.breakGlass)]) > 0 && len(res[key(tn.dave)]) > 0 &&
			len(res[key(tn.erin)]) > 0 && appr[key(tn.gus)] > 0 && appr[key(tn.ray)] > 0
	})
	gus, _ := tn.emu.User(tn.gus)
	require.False(t, gus.Disabled, "the Global Administrator waits for approval")
	log := r.out.String()
	assert.Contains(t, log, "approval required", "requests are announced in the log")

	done := answer(t, log, link(t, log, lead, key(tn.gus)), "approve")
	assert.Contains(t, done, "Your approval was recorded")
	done = answer(t, log, link(t, log, lead, key(tn.ray)), "deny")
	assert.Contains(t, done, "Your denial was recorded")
	r.waitFor("the approved and denied runs", func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return slices.Contains(res[key(tn.gus)], "contained") && slices.Contains(res[key(tn.ray)], "escalated")
	})
	recs, log := r.stop()
	res, _ := outcomes(recs)

	assert.True(t, all(res[key(tn.ana)], "contained"), "ana: %v", res[key(tn.ana)])
	ana, _ := tn.emu.User(tn.ana)
	assert.True(t, ana.Disabled, "ana is disabled")
	assert.Zero(t, ana.Sessions, "ana's sessions are revoked")

	gus, _ = tn.emu.User(tn.gus)
	assert.True(t, gus.Disabled, "approved through the web page, Gus is disabled")
	assert.Zero(t, gus.Sessions)
	assert.True(t, tn.emu.HasRole(tn.ray, entratest.GlobalAdministrator), "denied, Ray's grant stays")
	verdicts := 0
	for _, rec := range recs {
		if rec.Type == audit.TypeVerdict {
			verdicts++
			assert.Equal(t, lead, rec.Actor, "%+v", rec)
			assert.Equal(t, "web", rec.Data["channel"], "%+v", rec)
		}
	}
	assert.Equal(t, 2, verdicts, "the two web verdicts are audited")

	payloads, refused := hooks.received()
	assert.Zero(t, refused, "every webhook POST is signed with the shared secret")
	requested := map[string][]string{}
	for _, p := range payloads {
		if p.Kind == "requested" {
			requested[p.Subject.Key()] = p.Recipients
		}
	}
	assert.Equal(t, []string{lead}, requested[key(tn.gus)], "the webhook names whom to tell about Gus")
	assert.Equal(t, []string{lead}, requested[key(tn.ray)])
	// The personal links reach the on-call system too, one invitation
	// per approver, each a working link to the pages.
	invited := map[string]string{}
	for _, p := range payloads {
		if p.Kind == "invitation" {
			require.Equal(t, []string{lead}, p.Recipients, "%+v", p)
			require.True(t, strings.HasPrefix(p.Link, pagesURL+"?"), "the invitation carries the link: %q", p.Link)
			invited[p.Subject.Key()] = p.Link
		}
	}
	assert.Contains(t, invited, key(tn.gus), "Gus's approver is sent the link through the webhook")
	assert.Contains(t, invited, key(tn.ray), "Ray's approver is sent the link through the webhook")

	assert.True(t, all(res[key(tn.breakGlass)], "escalated"), "break-glass: %v", res[key(tn.breakGlass)])
	bg, _ := tn.emu.User(tn.breakGlass)
	assert.False(t, bg.Disabled)
	assert.Equal(t, 2, bg.Sessions)
	for _, r := range tn.emu.Requests() {
		if r.Method != http.MethodGet && strings.Contains(r.Path, tn.breakGlass) {
			t.Errorf("the break-glass account was written to: %s %s", r.Method, r.Path)
		}
	}

	codes := map[string]string{}
	for _, r := range recs {
		if r.Type == audit.TypeActionResult && r.Outcome == "failed" {
			c, _ := r.Data["provider_code"].(string)
			codes[r.Subject] = c
			assert.Equal(t, "permanent", r.Data["error_class"], "%s: %s", r.Subject, r.Error)
		}
	}
	assert.True(t, all(res[key(tn.dave)], "escalated"), "dave: %v", res[key(tn.dave)])
	assert.Equal(t, "Authorization_RequestDenied", codes[key(tn.dave)])
	assert.True(t, all(res[key(tn.erin)], "escalated"), "erin: %v", res[key(tn.erin)])
	assert.Equal(t, "InvalidAuthenticationToken", codes[key(tn.erin)])
	for _, p := range [][2]string{{"dave", tn.dave}, {"erin", tn.erin}} {
		n := 0
		for _, r := range tn.emu.Requests() {
			if r.Method == http.MethodPatch && strings.Contains(r.Path, p[1]) {
				n++
			}
		}
		// 403: one PATCH per run. 401: one PATCH, a new token, one more.
		assert.Positive(t, n, p[0])
	}
	raw, err := os.ReadFile(filepath.Join(dir, "audit.jsonl"))
	require.NoError(t, err)
	for _, secret := range []string{appSecret, linkKey, webhookSecret} {
		assert.NotContains(t, log, secret)
		assert.NotContains(t, string(raw), secret)
	}
}

// TestRestart stops the responder while Gus's and Ray's runs wait for
// approval, approves Gus's meanwhile as the operator CLI does (a verdict
// posted to the file's inbox while no responder runs), and starts it again
// on the same file: the waiting runs are still there, Gus's verdict is
// applied, and Ray's link, delivered before the restart, still works on
// the new start's pages. The pollers' cursors are in the same file, so the
// restarted pollers resume where the first stopped: no record is emitted
// twice. A second responder on the same file is refused at once with the
// lock error.
func TestRestart(t *testing.T) {
	t.Parallel()
	tn := newPrivilegedTenant(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	env := tn.env(map[string]string{"IAMPLAYBOOK_LINK_KEY": linkKey})
	args := tn.args(dir, append(slices.Clone(withApprovals), "--enforce")...)

	first := start(t, args, env)
	first.waitFor("the approval requests", func(recs []audit.Record) bool {
		_, appr := outcomes(recs)
		return appr[key(tn.gus)] > 0 && appr[key(tn.ray)] > 0
	})
	_, log1 := first.stop()
	rayLink := link(t, log1, lead, key(tn.ray))
	cursors := storedCursors(t, db)
	for _, name := range []string{"riskDetections", "riskyUsers", "directoryAudits"} {
		assert.Contains(t, cursors, "entra/"+tn.emu.TenantID()+"/"+name, "the pollers keep their cursors in the run store")
	}
	gus, _ := tn.emu.User(tn.gus)
	require.False(t, gus.Disabled)

	// The operator CLI's path: open the file without the lock, find the
	// pending approval, post a verdict to the inbox.
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	pending, err := st.PendingApprovals(t.Context(), 0)
	require.NoError(t, err)
	var gusRun playbook.Run
	subjects := map[string]bool{}
	for _, r := range pending {
		subjects[r.Event.Subject.Key()] = true
		if r.Event.Subject.Key() == key(tn.gus) && gusRun.ID == "" {
			gusRun = r
		}
	}
	require.True(t, subjects[key(tn.gus)] && subjects[key(tn.ray)], "the waiting runs are in the file: %v", subjects)
	req := gusRun.Approval.Request
	_, err = st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: lead, Approve: true,
		Reason: "Gus confirmed by phone", Channel: "cli", SummaryHash: req.SummaryHash, At: time.Now()})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	second := start(t, args, env)
	second.waitFor("Gus's containment after the restart", func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return slices.Contains(res[key(tn.gus)], "contained")
	})
	gus, _ = tn.emu.User(tn.gus)
	assert.True(t, gus.Disabled, "the verdict given while no responder ran is applied")

	// Another responder on the same file stops at once, naming the lock,
	// before it opens the audit trail or listens.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err = run(ctx, args, env, &syncBuffer{})
	require.ErrorIs(t, err, playbook.ErrStoreLocked)
	assert.Contains(t, err.Error(), "another responder runs on "+db)
	assert.Contains(t, err.Error(), "entra responder on", "the error names the holder")

	answer(t, second.out.String(), rayLink, "approve")
	second.waitFor("Ray's containment after the restart", func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return slices.Contains(res[key(tn.ray)], "contained")
	})
	recs, _ := second.stop()
	assert.False(t, tn.emu.HasRole(tn.ray, entratest.GlobalAdministrator), "approved with the link from before the restart, Ray's grant is removed")
	channels := map[string]string{}
	for _, r := range recs {
		if r.Type == audit.TypeVerdict {
			channels[r.Subject], _ = r.Data["channel"].(string)
		}
	}
	assert.Equal(t, map[string]string{key(tn.gus): "cli", key(tn.ray): "web"}, channels, "both verdicts are in the one audit trail")
	for _, r := range recs {
		assert.NotEqual(t, audit.TypeEventDuplicate, r.Type,
			"the restarted pollers resumed from their stored cursors, yet %s was emitted again", r.EventID)
	}
}

// storedCursors reads the pollers' state table of the file at path, with
// a plain connection.
func storedCursors(t *testing.T, path string) map[string]string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query("SELECT key, value FROM cursors")
	require.NoError(t, err)
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		require.NoError(t, rows.Scan(&k, &v))
		out[k] = v
	}
	require.NoError(t, rows.Err())
	return out
}

// TestCLIApprovals runs the responder without --approvers, the safe
// default: the privileged case waits, its notice in the log says how to
// answer it with the operator CLI, and a verdict posted to the file's
// inbox while the responder runs (what "iamplaybook approve" does) is
// applied.
func TestCLIApprovals(t *testing.T) {
	t.Parallel()
	tn := newPrivilegedTenant(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "runs.db")
	r := start(t, tn.args(dir, "--enforce"), tn.env(nil))
	r.waitFor("Gus's approval request", func(recs []audit.Record) bool {
		_, appr := outcomes(recs)
		return appr[key(tn.gus)] > 0
	})
	assert.Contains(t, r.out.String(), "approvals=\"operator CLI only: iamplaybook --db "+db+" approvals list\"")
	assert.NotContains(t, r.out.String(), "approval link", "nobody is invited without --approvers")

	st, err := sqlite.Open(t.Context(), db, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	pending, err := st.PendingApprovals(t.Context(), 0)
	require.NoError(t, err)
	i := slices.IndexFunc(pending, func(r playbook.Run) bool { return r.Event.Subject.Key() == key(tn.gus) })
	require.GreaterOrEqual(t, i, 0, "Gus's run waits in the file")
	req := pending[i].Approval.Request
	assert.Contains(t, r.out.String(), "iamplaybook --db "+db+" approve "+req.ID+" --by NAME", "the notice says how to answer")
	_, err = st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: "oncall@contoso.example", Approve: true,
		Reason: "confirmed with Gus", Channel: "cli", SummaryHash: req.SummaryHash, At: time.Now()})
	require.NoError(t, err)
	require.NoError(t, st.Close())

	r.waitFor("Gus's containment", func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return slices.Contains(res[key(tn.gus)], "contained")
	})
	r.stop()
	gus, _ := tn.emu.User(tn.gus)
	assert.True(t, gus.Disabled, "the CLI verdict is applied")
}

// TestShadow runs the responder without --enforce: everything is decided
// and audited, nothing is written to the tenant.
func TestShadow(t *testing.T) {
	t.Parallel()
	tn := seedTenant(t, func(tn *tenant) []string { return []string{tn.ana, tn.gus, tn.breakGlass} })
	recs, _ := runUntil(t, tn.args(t.TempDir()), tn.env(nil), func(recs []audit.Record) bool {
		res, _ := outcomes(recs)
		return len(res[key(tn.ana)]) > 0 && len(res[key(tn.gus)]) > 0 && len(res[key(tn.breakGlass)]) > 0
	})
	res, _ := outcomes(recs)
	assert.True(t, all(res[key(tn.ana)], "dry-run"), "ana: %v", res[key(tn.ana)])
	assert.True(t, all(res[key(tn.breakGlass)], "escalated"), "break-glass: %v", res[key(tn.breakGlass)])
	assert.Zero(t, tn.emu.Writes(), "shadow mode writes nothing")
	ana, _ := tn.emu.User(tn.ana)
	assert.False(t, ana.Disabled)
}

// TestCertificateCredential starts the responder with a certificate from
// the environment and waits until it has a token.
func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	emu := entratest.New(entratest.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	dir := t.TempDir()
	cert, keyPEM := writeCert(t, dir)
	require.NoError(t, emu.AddCertificateApp(appID, cert))
	env := map[string]string{"ENTRA_TENANT_ID": emu.TenantID(), "ENTRA_CLIENT_ID": appID,
		"ENTRA_CERT_FILE": filepath.Join(dir, "cert.pem"), "ENTRA_KEY_FILE": keyPEM}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"--graph-url", emu.GraphURL(), "--token-url", emu.TokenURL(), "--audit", filepath.Join(dir, "a.jsonl"),
			"--db", filepath.Join(dir, "runs.db"), "--poll-interval", "1s"},
			func(k string) string { return env[k] }, &syncBuffer{})
	}()
	for emu.TokensIssued() == 0 {
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("stopped: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	cancel()
	require.NoError(t, <-errc)
}

func writeCert(t *testing.T, dir string) (*x509.Certificate, string) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "responder"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	keyPath := filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}), 0o600))
	return cert, keyPath
}

// TestBadConfiguration checks that bad flags and environments are refused
// with an error naming the problem, before anything starts.
func TestBadConfiguration(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := map[string]string{"ENTRA_TENANT_ID": "contoso.example", "ENTRA_CLIENT_ID": appID, "ENTRA_CLIENT_SECRET": appSecret}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	withKey := with("IAMPLAYBOOK_LINK_KEY", linkKey)
	notDB := filepath.Join(dir, "notes.db")
	require.NoError(t, os.WriteFile(notDB, []byte("these are not the runs you are looking for\n"), 0o600))
	approvers := func(extra ...string) []string {
		return append([]string{"--approvers", lead + ",second@contoso.example", "--approval-listen", "127.0.0.1:0"}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"no tenant", nil, with("ENTRA_TENANT_ID", ""), "ENTRA_TENANT_ID and ENTRA_CLIENT_ID must be set"},
		{"no credential", nil, with("ENTRA_CLIENT_SECRET", ""), "set ENTRA_CLIENT_SECRET, or ENTRA_CERT_FILE and ENTRA_KEY_FILE"},
		{"both credentials", nil, with("ENTRA_CERT_FILE", "x.pem"), "not both"},
		{"missing certificate", nil, map[string]string{"ENTRA_TENANT_ID": "t", "ENTRA_CLIENT_ID": "c", "ENTRA_CERT_FILE": filepath.Join(dir, "none.pem"), "ENTRA_KEY_FILE": "k"}, "ENTRA_CERT_FILE"},
		{"bad interval", []string{"--poll-interval", "-1s"}, good, "must be positive"},
		{"stray argument", []string{"now"}, good, "unexpected arguments"},
		{"unknown flag", []string{"--force"}, good, "flag provided but not defined"},
		{"relative Graph URL", []string{"--graph-url", "graph.example/v1.0"}, good, "Config.GraphURL"},
		{"not a database", []string{"--db", notDB}, good, notDB},
		{"database directory missing", []string{"--db", filepath.Join(dir, "missing", "runs.db")}, good, "--db"},
		{"approval flags without approvers", []string{"--quorum", "2", "--approval-webhook", "https://oncall.example/hook"}, withKey, "approval flags (--approval-webhook, --quorum) need --approvers"},
		{"escalate-after without escalate-to", approvers("--escalate-after", "1h"), withKey, "--escalate-after needs --escalate-to"},
		{"no link key", approvers(), good, "--approvers needs IAMPLAYBOOK_LINK_KEY"},
		{"short link key", approvers(), with("IAMPLAYBOOK_LINK_KEY", "too-short-a-key"), "at least 32 bytes"},
		{"webhook without secret", approvers("--approval-webhook", "https://oncall.example/hook"), withKey, "--approval-webhook needs IAMPLAYBOOK_WEBHOOK_SECRET"},
		{"webhook not a URL", approvers("--approval-webhook", "oncall.example/hook"), with("IAMPLAYBOOK_LINK_KEY", linkKey, "IAMPLAYBOOK_WEBHOOK_SECRET", webhookSecret), "WebhookConfig.URL"},
		{"quorum above approvers", approvers("--quorum", "3"), withKey, "Quorum 3 exceeds the 2 distinct eligible approvers"},
		{"escalation after the deadline", approvers("--escalate-to", "ciso@contoso.example", "--escalate-after", "5h"), withKey, "is not before the Deadline"},
		{"short reminders", approvers("--approval-remind", "10s"), withKey, "RemindEvery is 10s"},
		{"relative base URL", approvers("--approval-base-url", "approvals.example/approve"), withKey, "Config.BaseURL"},
		{"bad listen address", approvers("--approval-listen", "127.0.0.1:99999"), withKey, "--approval-listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			args := append([]string{"--audit", filepath.Join(tmp, "a.jsonl"), "--db", filepath.Join(tmp, "runs.db")}, tc.args...)
			out := &syncBuffer{}
			err := run(t.Context(), args, func(k string) string { return tc.env[k] }, out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			for _, secret := range []string{appSecret, linkKey, webhookSecret, "too-short-a-key"} {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, out.String(), secret)
			}
		})
	}
}
