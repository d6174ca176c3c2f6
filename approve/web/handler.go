package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Channel is the Verdict.Channel of verdicts given through this package.
const Channel = "web"

// Limits and defaults.
const (
	// MinKeySize is the shortest signing key New accepts, in bytes.
	MinKeySize = 32
	// DefaultFormTTL is how long a rendered form may be posted when
	// Config.FormTTL is zero.
	DefaultFormTTL = 30 * time.Minute
	// MaxReason is the longest reason accepted, in characters.
	MaxReason = 2000
	maxBody   = 16 << 10
)

// Config configures a Handler. BaseURL, Key and Store are required.
type Config struct {
	// BaseURL is the public address the handler is served at, such as
	// "https://iam.example.com/approve"; links are BaseURL plus a query.
	// Its origin is the only one a verdict may be posted from.
	BaseURL string
	// Key signs links and forms with HMAC-SHA256; at least MinKeySize
	// random bytes. It never appears in pages, errors or logs. Changing
	// it invalidates every link issued.
	Key []byte
	// Store is the runner's store, read to show the request
	// (Runner.Store()).
	Store playbook.Store
	// Submitter receives the verdicts; usually set later with Bind, once
	// the runner exists.
	Submitter approve.Submitter
	// Used remembers used links; nil means a new MemoryTokens (see
	// UsedTokens for what a restart forgets).
	Used UsedTokens
	// Audit, when set, receives a record for every link the handler
	// refuses before a verdict reaches the runner (forged, tampered,
	// expired, replayed, cross-site). The runner audits the rest. Use the
	// playbook's sink so the trail is complete.
	Audit playbook.AuditSink
	// FormTTL bounds how long a rendered page may be posted; zero means
	// DefaultFormTTL.
	FormTTL time.Duration
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
}

// Handler serves approval pages behind signed, expiring, single-use links:
// GET shows the case and a form with Approve and Deny buttons and changes
// nothing (so link-preview bots cannot approve); only a POST carrying the
// form's token, from the handler's own origin, records a verdict through
// the Submitter, as the approver the link names.
//
// Every response carries strict security headers: a Content-Security-Policy
// without scripts or external sources, framing denied, no referrer and no
// caching. It is safe for concurrent use.
type Handler struct {
	base    *url.URL
	origin  string
	key     []byte
	store   playbook.Store
	used    UsedTokens
	sink    playbook.AuditSink
	formTTL time.Duration
	log     *slog.Logger

	mu  sync.Mutex
	sub approve.Submitter
}

var _ http.Handler = (*Handler)(nil)

// ErrNotBound is returned (and shown as "not ready") when a verdict
// arrives before Bind gave the handler a Submitter.
var ErrNotBound = errors.New("web: handler is not bound to a runner (call Bind)")

// New validates cfg and returns a handler; the error names the field at
// fault.
func New(cfg Config) (*Handler, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("web: Config.BaseURL must be an absolute http or https URL without query or fragment")
	}
	if len(cfg.Key) < MinKeySize {
		return nil, fmt.Errorf("web: Config.Key must hold at least %d bytes", MinKeySize)
	}
	if cfg.Store == nil {
		return nil, errors.New("web: Config.Store is required (the runner's store)")
	}
	if cfg.FormTTL < 0 {
		return nil, errors.New("web: Config.FormTTL is negative")
	}
	h := &Handler{
		base: u, origin: u.Scheme + "://" + u.Host, key: bytes.Clone(cfg.Key), store: cfg.Store,
		used: cfg.Used, sink: cfg.Audit, formTTL: cfg.FormTTL, log: cfg.Logger, sub: cfg.Submitter,
	}
	if h.used == nil {
		h.used = NewMemoryTokens()
	}
	if h.formTTL == 0 {
		h.formTTL = DefaultFormTTL
	}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Bind sets where verdicts go. Call it once the runner exists.
func (h *Handler) Bind(s approve.Submitter) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sub = s
}

// Link returns the signed link that lets approver answer approval
// approvalID until expires (truncated to the second). Anyone holding the
// link can act as approver until it is used or expires: send it only to
// that person, over a channel that authenticates them.
func (h *Handler) Link(approvalID, approver string, expires time.Time) (string, error) {
	approvalID, approver = strings.TrimSpace(approvalID), strings.TrimSpace(approver)
	if approvalID == "" || approver == "" {
		return "", errors.New("web: a link needs an approval id and an approver")
	}
	if expires.Unix() <= 0 {
		return "", errors.New("web: a link needs an expiry")
	}
	exp := time.Unix(expires.Unix(), 0)
	q := url.Values{}
	q.Set(paramApproval, approvalID)
	q.Set(paramApprover, approver)
	q.Set(paramExpires, strconv.FormatInt(exp.Unix(), 10))
	q.Set(paramSig, base64.RawURLEncoding.EncodeToString(linkMAC(h.key, approvalID, approver, exp)))
	u := *h.base
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// ServeHTTP serves GET (and HEAD) with the approval page and POST with the
// verdict; other methods get 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.show(w, r)
	case http.MethodPost:
		h.answer(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		h.render(w, http.StatusMethodNotAllowed, page{Title: "Method not allowed", Problem: "Open the approval link in a browser."})
	}
}

// setSecurityHeaders sets the headers every response carries.
func setSecurityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Pragma", "no-cache")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
}

// linkFor parses and verifies the request's link, and checks that it was
// not used. A refusal is audited and answered; ok is false then.
func (h *Handler) linkFor(w http.ResponseWriter, r *http.Request) (l link, ok bool) {
	l, err := parseLink(r.URL.Query())
	if err == nil {
		err = l.verify(h.key, time.Now())
	}
	if err == nil {
		var used bool
		used, err = h.used.Used(r.Context(), l.tokenKey())
		if err == nil && used {
			err = ErrLinkUsed
		}
	}
	if err != nil {
		h.refuse(w, r, l, err)
		return link{}, false
	}
	return l, true
}

// refuse audits a refused link and answers with a page that says why.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, l link, cause error) {
	status, title := http.StatusForbidden, "This approval link cannot be used"
	switch {
	case errors.Is(cause, ErrLinkIncomplete):
		status = http.StatusBadRequest
	case errors.Is(cause, ErrLinkExpired):
		status, title = http.StatusGone, "This approval link has expired"
	case errors.Is(cause, ErrLinkUsed):
		status, title = http.StatusGone, "This approval link was already used"
	}
	h.audit(r.Context(), l, r.Method, cause)
	h.log.Warn("approval link refused", "method", r.Method, "approval_id", l.approvalID, "approver", l.approver, "err", cause)
	h.render(w, status, page{Title: title, Problem: sentence(cause)})
}

func (h *Handler) audit(ctx context.Context, l link, method string, cause error) {
	if h.sink == nil {
		return
	}
	rec := audit.Redact(audit.Record{
		Time: time.Now().UTC(), Type: audit.TypeVerdictRejected, Actor: l.approver, Error: cause.Error(),
		Data: map[string]any{"approval_id": l.approvalID, "channel": Channel, "method": method},
	})
	if runID, ok := strings.CutSuffix(l.approvalID, ":approval"); ok && l.approvalID == playbook.ApprovalID(runID) {
		rec.RunID = runID
	}
	if err := h.sink.Record(context.WithoutCancel(ctx), rec); err != nil {
		h.log.Error("auditing a refused approval link failed", "err", err)
	}
}

// request loads the approval a verified link names.
func (h *Handler) request(ctx context.Context, approvalID string) (playbook.Run, error) {
	runID, ok := strings.CutSuffix(approvalID, ":approval")
	if !ok || runID == "" {
		return playbook.Run{}, playbook.ErrApprovalNotFound
	}
	run, err := h.store.GetRun(ctx, runID)
	if errors.Is(err, playbook.ErrRunNotFound) || (err == nil && (run.Approval == nil || run.Approval.Request.ID != approvalID)) {
		return playbook.Run{}, playbook.ErrApprovalNotFound
	}
	return run, err
}

func (h *Handler) show(w http.ResponseWriter, r *http.Request) {
	l, ok := h.linkFor(w, r)
	if !ok {
		return
	}
	run, err := h.request(r.Context(), l.approvalID)
	if err != nil {
		h.unavailable(w, l, err)
		return
	}
	a := run.Approval
	p := casePage(run, l.approver)
	switch {
	case a.Status != playbook.ApprovalPending:
		p.Title, p.Problem = "This request is closed", fmt.Sprintf("It was %s at %s. No verdict can be given any more.", a.Status, a.DecidedAt.Format(time.RFC1123))
		h.render(w, http.StatusConflict, p)
		return
	case !time.Now().Before(a.Request.Deadline):
		p.Title, p.Problem = "This request has expired", "Its deadline has passed; the case was handed to people for manual handling."
		h.render(w, http.StatusGone, p)
		return
	}
	p.Form = true
	p.Token = formToken(h.key, l, a.Request.SummaryHash, time.Now())
	p.SummaryHash = a.Request.SummaryHash
	h.render(w, http.StatusOK, p)
}

func (h *Handler) unavailable(w http.ResponseWriter, l link, err error) {
	if errors.Is(err, playbook.ErrApprovalNotFound) {
		h.render(w, http.StatusNotFound, page{Title: "Approval request not found", Problem: "No approval request has this id. It may have been removed."})
		return
	}
	h.log.Error("loading an approval request failed", "approval_id", l.approvalID, "err", err)
	h.render(w, http.StatusServiceUnavailable, page{Title: "Temporarily unavailable", Problem: "The request could not be loaded. Try again in a minute."})
}

// sameOrigin refuses posts that a browser marks as coming from another
// site, or whose Origin is not the handler's. Under Referrer-Policy
// no-referrer a browser sends "Origin: null" with the page's own form; that
// is accepted only when Sec-Fetch-Site confirms the same origin.
func (h *Handler) sameOrigin(r *http.Request) error {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" && site != "none" {
		return fmt.Errorf("cross-site post refused (Sec-Fetch-Site: %s)", site)
	}
	switch o := r.Header.Get("Origin"); {
	case o == "":
	case o == "null":
		if site != "same-origin" {
			return errors.New("post from an opaque origin refused")
		}
	case !strings.EqualFold(o, h.origin):
		return errors.New("post from another origin refused")
	}
	return nil
}

func (h *Handler) answer(w http.ResponseWriter, r *http.Request) {
	l, ok := h.linkFor(w, r)
	if !ok {
		return
	}
	if err := h.sameOrigin(r); err != nil {
		h.refuse(w, r, l, err)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		h.render(w, http.StatusBadRequest, page{Title: "The form could not be read", Problem: "Open the link again and resubmit."})
		return
	}
	summaryHash := r.PostForm.Get("h")
	if err := checkFormToken(h.key, l, summaryHash, r.PostForm.Get("csrf"), time.Now(), h.formTTL); err != nil {
		h.refuse(w, r, l, fmt.Errorf("form token refused: %w", err))
		return
	}
	var approve bool
	switch r.PostForm.Get("decision") {
	case "approve":
		approve = true
	case "deny":
	default:
		h.render(w, http.StatusBadRequest, page{Title: "No decision", Problem: "Choose Approve or Deny."})
		return
	}
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > MaxReason {
		h.render(w, http.StatusBadRequest, page{Title: "Reason too long", Problem: fmt.Sprintf("Keep the reason under %d characters.", MaxReason)})
		return
	}
	h.mu.Lock()
	sub := h.sub
	h.mu.Unlock()
	if sub == nil {
		h.log.Error("verdict arrived before Bind", "approval_id", l.approvalID)
		h.render(w, http.StatusServiceUnavailable, page{Title: "Not ready", Problem: "The approval service is starting. Try again in a minute."})
		return
	}
	key := l.tokenKey()
	first, err := h.used.Claim(r.Context(), key, l.expires)
	if err != nil {
		h.log.Error("claiming an approval link failed", "err", err)
		h.render(w, http.StatusServiceUnavailable, page{Title: "Temporarily unavailable", Problem: "Your verdict was not recorded. Try again in a minute."})
		return
	}
	if !first {
		h.refuse(w, r, l, ErrLinkUsed)
		return
	}
	v := playbook.Verdict{ApprovalID: l.approvalID, Approver: l.approver, Approve: approve, Reason: reason, Channel: Channel, SummaryHash: summaryHash}
	err = sub.Submit(r.Context(), v)
	var refused *playbook.VerdictRefusedError
	switch {
	case err == nil:
	case errors.As(err, &refused) && !errors.Is(err, playbook.ErrAuditFailed):
		// The runner refused and audited it; the link stays used.
		h.render(w, http.StatusConflict, page{Title: "Your verdict was not accepted", Problem: sentence(refused.Err)})
		return
	default:
		if rerr := h.used.Release(context.WithoutCancel(r.Context()), key); rerr != nil {
			h.log.Error("releasing an approval link failed", "err", rerr)
		}
		h.log.Error("recording a verdict failed", "approval_id", l.approvalID, "err", err)
		h.render(w, http.StatusServiceUnavailable, page{Title: "Temporarily unavailable", Problem: "Your verdict was not recorded. Open the link again and retry."})
		return
	}
	done := page{Title: "Your denial was recorded", Done: "The containment will not run on your word; the case goes to people for manual handling unless others settle it."}
	if approve {
		done = page{Title: "Your approval was recorded", Done: "Thank you. The containment runs once the approval rule is satisfied."}
	}
	if run, err := h.request(r.Context(), l.approvalID); err == nil {
		done.Subject, done.Status = subjectName(run.Event.Subject), string(run.Approval.Status)
	}
	done.Approver = l.approver
	h.render(w, http.StatusOK, done)
}

// sentence makes an error readable as a sentence on a page.
func sentence(err error) string {
	s := err.Error()
	if s == "" {
		return ""
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func subjectName(s playbook.Subject) string {
	switch {
	case s.DisplayName != "" && s.Login != "":
		return s.DisplayName + " (" + s.Login + ")"
	case s.Login != "":
		return s.Login
	}
	return s.Key()
}

// page is what the template shows.
type page struct {
	Title   string
	Problem string
	Done    string
	Status  string

	Approver    string
	Subject     string
	EventReason string
	Reason      string
	Risk        string
	Rule        string
	Steps       []string
	Deadline    string
	Summary     string

	Form        bool
	Token       string
	SummaryHash string
}

func casePage(run playbook.Run, approver string) page {
	req := run.Approval.Request
	p := page{
		Title: "Approval requested", Approver: approver, Subject: subjectName(req.Subject),
		EventReason: run.Event.Reason, Reason: req.Decision.Reason, Risk: req.Risk.String(),
		Rule: req.Decision.Rule, Deadline: req.Deadline.UTC().Format(time.RFC1123), Summary: req.Summary,
	}
	for _, s := range req.Decision.Steps {
		step := s.Action
		if len(s.Params) > 0 {
			step += " " + fmt.Sprint(s.Params)
		}
		p.Steps = append(p.Steps, step)
	}
	return p
}

func (h *Handler) render(w http.ResponseWriter, status int, p page) {
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, p); err != nil {
		h.log.Error("rendering the approval page failed", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

const style = `body{font-family:system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#111;background:#fff}
dt{font-weight:600}dd{margin:0 0 .5rem 0}pre{white-space:pre-wrap;background:#f4f4f4;padding:.75rem;border:1px solid #ccc}
.problem{border-left:4px solid #b00020;padding-left:.75rem}.done{border-left:4px solid #1b5e20;padding-left:.75rem}
textarea{width:100%;font:inherit}button{font:inherit;padding:.5rem 1.25rem;margin-right:1rem;border:2px solid #111;background:#fff;cursor:pointer}
button.approve{background:#1b5e20;color:#fff}button.deny{background:#b00020;color:#fff}button:focus{outline:3px solid #ffbf47;outline-offset:2px}`

var csp = func() string {
	sum := sha256.Sum256([]byte(style))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
}()

var pageTmpl = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · iamplaybook</title>
<style>` + style + `</style>
</head>
<body>
<main>
<h1>{{.Title}}</h1>
{{if .Problem}}<p class="problem" role="alert">{{.Problem}}</p>{{end}}
{{if .Done}}<p class="done" role="status">{{.Done}}</p>{{end}}
{{if .Subject}}
<h2>Case</h2>
<dl>
<dt>Subject</dt><dd id="subject">{{.Subject}}</dd>
{{if .EventReason}}<dt>Signal</dt><dd id="signal">{{.EventReason}}</dd>{{end}}
{{if .Reason}}<dt>Reason</dt><dd id="reason-text">{{.Reason}}</dd>{{end}}
{{if .Risk}}<dt>Risk</dt><dd>{{.Risk}}</dd>{{end}}
{{if .Steps}}<dt>Containment if approved</dt><dd><ul>{{range .Steps}}<li>{{.}}</li>{{end}}</ul></dd>{{end}}
{{if .Rule}}<dt>Decided by rule</dt><dd>{{.Rule}}</dd>{{end}}
{{if .Deadline}}<dt>Answer before</dt><dd>{{.Deadline}} (unanswered requests are denied)</dd>{{end}}
{{if .Status}}<dt>Request status</dt><dd id="status">{{.Status}}</dd>{{end}}
{{if .Approver}}<dt>You are answering as</dt><dd id="approver">{{.Approver}}</dd>{{end}}
</dl>
{{end}}
{{if .Summary}}<h2>Full case summary</h2>
<pre>{{.Summary}}</pre>{{end}}
{{if .Form}}
<h2>Your verdict</h2>
<form method="post">
<input type="hidden" name="csrf" value="{{.Token}}">
<input type="hidden" name="h" value="{{.SummaryHash}}">
<p><label for="reason">Reason (recorded in the audit trail)</label><br>
<textarea id="reason" name="reason" rows="3" maxlength="2000"></textarea></p>
<p><button type="submit" name="decision" value="approve" class="approve">Approve</button>
<button type="submit" name="decision" value="deny" class="deny">Deny</button></p>
</form>
{{end}}
</main>
</body>
</html>
`))
