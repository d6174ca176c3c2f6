package web_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
)

var key = []byte("test-signing-key-0123456789abcdef-web")

// inbox collects invitations, as an approver's mailbox would.
type inbox struct {
	mu  sync.Mutex
	inv []web.Invitation
}

func (b *inbox) deliver(ctx context.Context, inv web.Invitation) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.inv = append(b.inv, inv)
	return nil
}

// link returns the latest link sent to who.
func (b *inbox) link(t *testing.T, who string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := len(b.inv) - 1; i >= 0; i-- {
		if b.inv[i].Approver == who {
			return b.inv[i].URL
		}
	}
	t.Fatalf("no invitation for %s in %v", who, b.inv)
	return ""
}

// env is a runner whose approvals go through the web channel, served by a
// real HTTP server.
type env struct {
	h       *playbooktest.Harness
	handler *web.Handler
	srv     *httptest.Server
	mail    *inbox
	runID   string
	sink    *audit.Memory
	calls   *int
	mu      *sync.Mutex
}

func rules() approve.Rules {
	return approve.Rules{
		Default: approve.Rule{Eligible: []string{"secops-lead@example.com", "ana@example.com"}},
		ByName: map[string]approve.Rule{
			"leads-2": {Eligible: []string{"lead1@example.com", "lead2@example.com"}, Quorum: 2},
		},
	}
}

func newEnv(t *testing.T, approval string) *env {
	t.Helper()
	st := store.NewMemory()
	sink := audit.NewMemory()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	handler, err := web.New(web.Config{BaseURL: srv.URL + "/approve", Key: key, Store: st, Audit: sink,
		Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	require.NoError(t, err)
	mux.Handle("/approve", handler)
	mail := &inbox{}
	ap, err := web.NewApprover(handler, rules(), mail.deliver)
	require.NoError(t, err)
	var mu sync.Mutex
	calls := 0
	disable := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	pb := playbook.Playbook{
		Name: "web-approvals",
		Policy: playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondApprove, Rule: "matrix/high-privileged", Approval: approval,
				Reason: "Global Administrator <b>signed in</b> from an unfamiliar country", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}),
		Actions:  map[string]playbook.Action{playbook.ActionDisableUser: disable},
		Approver: ap,
		Audit:    []playbook.AuditSink{sink},
	}
	h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
	handler.Bind(h.Runner)
	id := h.Fire(playbook.Event{
		ID: "det-1", Type: playbook.EventRiskySignIn, Source: "test", Risk: playbook.RiskHigh, Reason: "impossibleTravel",
		Subject: playbook.Subject{Provider: "entra", ID: "u-ana", Login: "ana@example.com", DisplayName: "Ana Souza"},
	})
	h.Settle()
	h.RequireWaiting(id)
	return &env{h: h, handler: handler, srv: srv, mail: mail, runID: id, sink: sink, calls: &calls, mu: &mu}
}

func (e *env) contained() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return *e.calls
}

// client never follows redirects and keeps no cookies: what it sees is
// what the handler answered.
func client() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, link string) (int, http.Header, string) {
	t.Helper()
	resp, err := client().Get(link)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = ioCopy(&b, resp)
	return resp.StatusCode, resp.Header, b.String()
}

var (
	tokenRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	hashRE  = regexp.MustCompile(`name="h" value="([^"]+)"`)
)

// form GETs link and returns the form fields the page carries.
func form(t *testing.T, link string) url.Values {
	t.Helper()
	status, _, body := get(t, link)
	require.Equal(t, http.StatusOK, status, body)
	tok, h := tokenRE.FindStringSubmatch(body), hashRE.FindStringSubmatch(body)
	require.NotNil(t, tok, body)
	require.NotNil(t, h, body)
	return url.Values{"csrf": {tok[1]}, "h": {h[1]}}
}

func post(t *testing.T, link string, f url.Values, origin string, site ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, link, strings.NewReader(f.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if len(site) > 0 {
		req.Header.Set("Sec-Fetch-Site", site[0])
	}
	resp, err := client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = ioCopy(&b, resp)
	return resp.StatusCode, b.String()
}

func ioCopy(b *strings.Builder, resp *http.Response) (int64, error) {
	buf := make([]byte, 32<<10)
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		b.Write(buf[:k])
		n += int64(k)
		if err != nil {
			return n, nil
		}
	}
}

func withDecision(f url.Values, decision, reason string) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = v
	}
	out.Set("decision", decision)
	out.Set("reason", reason)
	return out
}

func TestPageShowsTheCaseAndRecordsNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	link := e.mail.link(t, "secops-lead@example.com")
	for range 3 { // a link-preview bot fetching the link, repeatedly
		status, hdr, body := get(t, link)
		require.Equal(t, http.StatusOK, status)
		assert.Contains(t, body, "Ana Souza (ana@example.com)")
		assert.Contains(t, body, "impossibleTravel")
		assert.Contains(t, body, "Global Administrator &lt;b&gt;signed in&lt;/b&gt;", "case text is escaped")
		assert.Contains(t, body, `<html lang="en">`)
		assert.Contains(t, body, `<label for="reason">`)
		assert.Contains(t, body, `value="approve"`)
		assert.NotContains(t, body, "<script")
		assert.NotContains(t, body, "http://", "no external assets")
		assert.Contains(t, hdr.Get("Content-Security-Policy"), "default-src 'none'")
		assert.Contains(t, hdr.Get("Content-Security-Policy"), "form-action 'self'")
		assert.Equal(t, "DENY", hdr.Get("X-Frame-Options"))
		assert.Equal(t, "no-referrer", hdr.Get("Referrer-Policy"))
		assert.Equal(t, "no-store", hdr.Get("Cache-Control"))
		assert.Equal(t, "nosniff", hdr.Get("X-Content-Type-Options"))
	}
	e.h.RequireWaiting(e.runID)
	assert.Empty(t, e.h.Records(audit.TypeVerdict), "GET never records a verdict")
	assert.Zero(t, e.contained())
	e.mail.mu.Lock()
	defer e.mail.mu.Unlock()
	require.Len(t, e.mail.inv, 1, "the subject (ana@example.com) is not invited to approve their own containment")
}

func TestApproveThroughTheLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		decision string
		want     playbook.Outcome
		approve  bool
	}{
		{name: "approve", decision: "approve", want: playbook.OutcomeContained, approve: true},
		{name: "deny", decision: "deny", want: playbook.OutcomeEscalated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			link := e.mail.link(t, "secops-lead@example.com")
			f := form(t, link)
			status, body := post(t, link, withDecision(f, tt.decision, "confirmed with the user"), e.srv.URL)
			require.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, "was recorded")
			e.h.Settle()
			e.h.RequireOutcome(e.runID, tt.want)
			v := e.h.Run(e.runID).Approval.Verdicts
			require.Len(t, v, 1)
			assert.Equal(t, playbook.Verdict{ApprovalID: playbook.ApprovalID(e.runID), Approver: "secops-lead@example.com", Approve: tt.approve,
				Reason: "confirmed with the user", Channel: web.Channel, SummaryHash: f.Get("h"), At: v[0].At}, v[0])
			e.h.CheckInvariants()

			// The link is single-use: GET and POST are refused now.
			status, _, body = get(t, link)
			assert.Equal(t, http.StatusGone, status)
			assert.Contains(t, body, "already used")
			status, _ = post(t, link, withDecision(f, "approve", "again"), e.srv.URL)
			assert.Equal(t, http.StatusGone, status)
		})
	}
}

// tamper returns link with query parameter p replaced by v.
func tamper(t *testing.T, link, p, v string) string {
	t.Helper()
	u, err := url.Parse(link)
	require.NoError(t, err)
	q := u.Query()
	q.Set(p, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestLinksRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "")
	good := e.mail.link(t, "secops-lead@example.com")
	approvalID := playbook.ApprovalID(e.runID)
	expired, err := e.handler.Link(approvalID, "secops-lead@example.com", time.Now().Add(-time.Second))
	require.NoError(t, err)
	other, err := web.New(web.Config{BaseURL: e.srv.URL + "/approve", Key: []byte("another-key-that-is-long-enough-123456"), Store: e.h.Store})
	require.NoError(t, err)
	forged, err := other.Link(approvalID, "secops-lead@example.com", time.Now().Add(time.Hour))
	require.NoError(t, err)
	sig := tamper(t, good, "s", "")
	u, _ := url.Parse(good)
	raw, _ := base64.RawURLEncoding.DecodeString(u.Query().Get("s"))
	raw[0] ^= 1
	bitflip := tamper(t, good, "s", base64.RawURLEncoding.EncodeToString(raw))

	tests := []struct {
		name   string
		link   string
		status int
		text   string
	}{
		{name: "forged with another key", link: forged, status: http.StatusForbidden, text: "signature is not valid"},
		{name: "signature bit flipped", link: bitflip, status: http.StatusForbidden, text: "signature is not valid"},
		{name: "tampered approval id", link: tamper(t, good, "a", "other-run:approval"), status: http.StatusForbidden, text: "signature is not valid"},
		{name: "tampered approver", link: tamper(t, good, "u", "mallory@example.com"), status: http.StatusForbidden, text: "signature is not valid"},
		{name: "extended expiry", link: tamper(t, good, "e", "4102444800"), status: http.StatusForbidden, text: "signature is not valid"},
		{name: "expired", link: expired, status: http.StatusGone, text: "has expired"},
		{name: "signature missing", link: sig, status: http.StatusBadRequest, text: "incomplete"},
		{name: "no parameters", link: e.srv.URL + "/approve", status: http.StatusBadRequest, text: "incomplete"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, hdr, body := get(t, tt.link)
			assert.Equal(t, tt.status, status)
			assert.Contains(t, body, tt.text)
			assert.NotContains(t, body, `name="csrf"`, "no form on a refused link")
			assert.Equal(t, "DENY", hdr.Get("X-Frame-Options"), "refusals carry the security headers too")
			pstatus, _ := post(t, tt.link, url.Values{"decision": {"approve"}}, "")
			assert.Equal(t, tt.status, pstatus, "POST is refused the same way")
		})
	}
	t.Cleanup(func() {
		rejected := e.sink.Filter(func(r audit.Record) bool { return r.Type == audit.TypeVerdictRejected })
		assert.Len(t, rejected, 2*len(tests), "every refused link is audited")
		for _, r := range rejected {
			assert.NotContains(t, r.Error, string(key))
		}
		e.h.RequireWaiting(e.runID)
		assert.Zero(t, e.contained())
	})
}

func TestPostsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		form   func(f url.Values) url.Values
		origin string
		site   string
		status int
		text   string
	}{
		{name: "no form token (cross-site form)", form: func(f url.Values) url.Values { return url.Values{"decision": {"approve"}} }, status: http.StatusForbidden, text: "form token"},
		{name: "token of another summary", form: func(f url.Values) url.Values {
			f = withDecision(f, "approve", "")
			f.Set("h", strings.Repeat("0", 64))
			return f
		}, status: http.StatusForbidden, text: "not issued by this server"},
		{name: "post from another origin", form: func(f url.Values) url.Values { return withDecision(f, "approve", "") }, origin: "https://evil.example", status: http.StatusForbidden, text: "another origin"},
		{name: "opaque origin without fetch metadata", form: func(f url.Values) url.Values { return withDecision(f, "approve", "") }, origin: "null", status: http.StatusForbidden, text: "opaque origin"},
		{name: "browser marks the post cross-site", form: func(f url.Values) url.Values { return withDecision(f, "approve", "") }, site: "cross-site", status: http.StatusForbidden, text: "cross-site"},
		{name: "no decision", form: func(f url.Values) url.Values { return f }, status: http.StatusBadRequest, text: "Choose Approve or Deny"},
		{name: "reason too long", form: func(f url.Values) url.Values { return withDecision(f, "approve", strings.Repeat("x", web.MaxReason+1)) }, status: http.StatusBadRequest, text: "Reason too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, "")
			link := e.mail.link(t, "secops-lead@example.com")
			status, body := post(t, link, tt.form(form(t, link)), tt.origin, tt.site)
			assert.Equal(t, tt.status, status)
			assert.Contains(t, body, tt.text)
			e.h.RequireWaiting(e.runID)
			assert.Zero(t, e.contained())
			// The link was not used up by a refused post.
			status, body = post(t, link, withDecision(form(t, link), "approve", "ok"), e.srv.URL)
			assert.Equal(t, http.StatusOK, status, body)
			e.h.Settle()
			e.h.RequireOutcome(e.runID, playbook.OutcomeContained)
		})
	}
}

// A verdict the runner refuses (the rule's quorum, a double vote) is shown
// with the reason and audited by the runner.
func TestRunnerRefusalsShown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, "leads-2")
	l1 := e.mail.link(t, "lead1@example.com")
	status, body := post(t, l1, withDecision(form(t, l1), "approve", "one of two"), e.srv.URL)
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "pending", "one approval of two leaves the request pending")
	e.h.RequireWaiting(e.runID)

	// A link for someone outside the rule, signed with the right key (a
	// mistake in the host's delivery), is refused by the rule.
	outsider, err := e.handler.Link(playbook.ApprovalID(e.runID), "intern@example.com", time.Now().Add(time.Hour))
	require.NoError(t, err)
	status, body = post(t, outsider, withDecision(form(t, outsider), "approve", ""), e.srv.URL)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, body, "not an approver")

	// A second link for lead1 (a reminder) cannot vote twice.
	again, err := e.handler.Link(playbook.ApprovalID(e.runID), "lead1@example.com", time.Now().Add(2*time.Hour))
	require.NoError(t, err)
	status, body = post(t, again, withDecision(form(t, again), "approve", ""), e.srv.URL)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, body, "already voted")
	assert.Len(t, e.h.Records(audit.TypeVerdictRejected), 2)

	l2 := e.mail.link(t, "lead2@example.com")
	status, body = post(t, l2, withDecision(form(t, l2), "approve", "two of two"), e.srv.URL)
	require.Equal(t, http.StatusOK, status, body)
	e.h.Settle()
	e.h.RequireOutcome(e.runID, playbook.OutcomeContained)

	// The request is closed now: a fresh link shows that, with no form.
	late, err := e.handler.Link(playbook.ApprovalID(e.runID), "lead2@example.com", time.Now().Add(time.Hour))
	require.NoError(t, err)
	status, _, body = get(t, late)
	assert.Equal(t, http.StatusConflict, status)
	assert.Contains(t, body, "closed")
	assert.NotContains(t, body, `name="csrf"`)
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	tests := []struct {
		name    string
		cfg     web.Config
		wantErr string
	}{
		{name: "no base URL", cfg: web.Config{Key: key, Store: st}, wantErr: "BaseURL"},
		{name: "base URL with query", cfg: web.Config{BaseURL: "https://x/approve?a=1", Key: key, Store: st}, wantErr: "BaseURL"},
		{name: "short key", cfg: web.Config{BaseURL: "https://x/approve", Key: []byte("short"), Store: st}, wantErr: "Key"},
		{name: "no store", cfg: web.Config{BaseURL: "https://x/approve", Key: key}, wantErr: "Store"},
		{name: "negative form TTL", cfg: web.Config{BaseURL: "https://x/approve", Key: key, Store: st, FormTTL: -1}, wantErr: "FormTTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := web.New(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), string(key))
		})
	}
}
