package approve

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Webhook headers. The signature is "v1=" followed by the hex HMAC-SHA256,
// keyed with the shared secret, of the timestamp header's value, a dot, and
// the raw body.
const (
	HeaderTimestamp = "X-Iamplaybook-Timestamp"
	HeaderSignature = "X-Iamplaybook-Signature"
	HeaderDelivery  = "X-Iamplaybook-Delivery"
)

// MinWebhookSecret is the shortest shared secret NewWebhook accepts, in
// bytes.
const MinWebhookSecret = 32

// Webhook defaults for the zero WebhookConfig.
const (
	DefaultWebhookAttempts = 5
	DefaultWebhookInitial  = time.Second
	DefaultWebhookMaxDelay = 30 * time.Second
	DefaultWebhookTimeout  = 10 * time.Second
)

// ErrWebhook is wrapped by every delivery failure (see WebhookError).
var ErrWebhook = errors.New("approve: webhook delivery failed")

// WebhookConfig configures a Webhook. URL and Secret are required; the
// zero value of every other field means its default.
type WebhookConfig struct {
	// URL receives the POSTs (http or https).
	URL string
	// Secret is the shared HMAC key, at least MinWebhookSecret bytes. It
	// never appears in errors or logs.
	Secret []byte
	// Rules, when set, lets each payload name its recipients (see
	// Rules.Recipients), so the on-call system knows whom to page.
	Rules *Rules
	// Client sends the requests; nil means an http.Client whose Timeout
	// is DefaultWebhookTimeout.
	Client *http.Client
	// MaxAttempts bounds deliveries of one payload; zero means
	// DefaultWebhookAttempts.
	MaxAttempts int
	// InitialDelay is the wait before the first retry, doubled for each
	// further one up to MaxDelay; zero means DefaultWebhookInitial.
	InitialDelay time.Duration
	// MaxDelay caps a wait, a Retry-After included; zero means
	// DefaultWebhookMaxDelay.
	MaxDelay time.Duration
}

// Webhook is an Approver and playbook.ApprovalFollower that posts each
// request and notice (reminder, escalation, settled) as signed JSON to an
// on-call or chat system. It retries 5xx and 429 answers and network
// errors with exponential backoff (honouring Retry-After); any other 4xx is
// permanent. It is safe for concurrent use.
type Webhook struct {
	cfg    WebhookConfig
	client *http.Client
}

var (
	_ playbook.Approver         = (*Webhook)(nil)
	_ playbook.ApprovalFollower = (*Webhook)(nil)
)

// NewWebhook validates cfg and returns a Webhook; the error names the
// field at fault.
func NewWebhook(cfg WebhookConfig) (*Webhook, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("approve: WebhookConfig.URL must be an absolute http or https URL")
	}
	if len(cfg.Secret) < MinWebhookSecret {
		return nil, fmt.Errorf("approve: WebhookConfig.Secret must hold at least %d bytes", MinWebhookSecret)
	}
	if cfg.MaxAttempts < 0 || cfg.InitialDelay < 0 || cfg.MaxDelay < 0 {
		return nil, errors.New("approve: WebhookConfig.MaxAttempts, InitialDelay and MaxDelay must not be negative")
	}
	if cfg.Rules != nil {
		if err := cfg.Rules.Validate(); err != nil {
			return nil, fmt.Errorf("approve: WebhookConfig.Rules: %w", err)
		}
	}
	cfg.Secret = bytes.Clone(cfg.Secret)
	cfg.MaxAttempts = cmpOr(cfg.MaxAttempts, DefaultWebhookAttempts)
	cfg.InitialDelay = cmpOr(cfg.InitialDelay, DefaultWebhookInitial)
	cfg.MaxDelay = cmpOr(cfg.MaxDelay, DefaultWebhookMaxDelay)
	client := cfg.Client
	if client == nil {
		client = &http.Client{Timeout: DefaultWebhookTimeout}
	}
	return &Webhook{cfg: cfg, client: client}, nil
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// WebhookPayload is the JSON body the webhook posts.
type WebhookPayload struct {
	// Delivery identifies the payload; retries of one payload, and a
	// payload sent again after a runner restart, carry the same value, so
	// receivers can drop duplicates.
	Delivery string `json:"delivery"`
	// Kind is "requested", or the notice kind: "reminder", "escalation",
	// "settled".
	Kind        string                  `json:"kind"`
	ApprovalID  string                  `json:"approval_id"`
	RunID       string                  `json:"run_id"`
	Subject     playbook.Subject        `json:"subject"`
	Risk        string                  `json:"risk"`
	Rule        string                  `json:"rule,omitempty"`
	Summary     string                  `json:"summary"`
	SummaryHash string                  `json:"summary_hash"`
	Deadline    time.Time               `json:"deadline"`
	Status      playbook.ApprovalStatus `json:"status"`
	// Tier is the escalation tier, from 1.
	Tier int `json:"tier,omitempty"`
	// Recipients are whom to tell, when WebhookConfig.Rules is set.
	Recipients []string `json:"recipients,omitempty"`
	// Verdicts are the accepted verdicts, for "settled".
	Verdicts []playbook.Verdict `json:"verdicts,omitempty"`
	// Link is, for kind "invitation", the personal approval link of the
	// one recipient. It lets its holder vote as that recipient until it
	// expires or is used: deliver it to them only, and do not log it.
	Link string    `json:"link,omitempty"`
	At   time.Time `json:"at"`
}

// Invite posts an "invitation" payload: one approver's personal link to a
// request (a new request when kind is "", else the reminder or escalation
// tier that re-invites them), for an on-call or messaging system to hand
// to that person. Recipients holds only approver. Retries and a repeat
// after a runner restart carry the same Delivery, so the receiver can drop
// duplicates.
func (w *Webhook) Invite(ctx context.Context, approver, link string, r playbook.ApprovalRequest, kind playbook.NoticeKind, tier int, at time.Time) error {
	if approver == "" || link == "" {
		return errors.New("approve: webhook invitation needs an approver and a link")
	}
	k := string(kind)
	if k == "" {
		k = "requested"
	}
	p := w.payload(k, r, playbook.ApprovalPending, tier, nil, at)
	p.Delivery = "invitation/" + strings.ToLower(approver) + "/" + p.Delivery
	p.Kind = "invitation"
	p.Recipients = []string{approver}
	p.Link = link
	return w.post(ctx, p)
}

// Request posts a "requested" payload.
func (w *Webhook) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	p := w.payload("requested", r, playbook.ApprovalPending, 0, nil, r.RequestedAt)
	if w.cfg.Rules != nil {
		rcpt, err := w.cfg.Rules.Recipients(r, "", 0, nil, r.RequestedAt)
		if err != nil {
			return fmt.Errorf("approve: webhook recipients: %w", err)
		}
		p.Recipients = rcpt
	}
	return w.post(ctx, p)
}

// Follow posts a payload for the notice.
func (w *Webhook) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	p := w.payload(string(n.Kind), n.Request, n.Status, n.Tier, n.Verdicts, n.At)
	if w.cfg.Rules != nil {
		rcpt, err := w.cfg.Rules.Recipients(n.Request, n.Kind, n.Tier, n.Verdicts, n.At)
		if err != nil {
			return fmt.Errorf("approve: webhook recipients: %w", err)
		}
		p.Recipients = rcpt
	}
	return w.post(ctx, p)
}

func (w *Webhook) payload(kind string, r playbook.ApprovalRequest, st playbook.ApprovalStatus, tier int, verdicts []playbook.Verdict, at time.Time) WebhookPayload {
	delivery := r.ID + "/" + kind
	switch kind {
	case string(playbook.NoticeEscalation):
		delivery += "/" + strconv.Itoa(tier)
	case string(playbook.NoticeReminder):
		delivery += "/" + at.UTC().Format(time.RFC3339)
	}
	return WebhookPayload{
		Delivery: delivery, Kind: kind, ApprovalID: r.ID, RunID: r.RunID, Subject: r.Subject, Risk: r.Risk.String(),
		Rule: r.Decision.Approval, Summary: r.Summary, SummaryHash: r.SummaryHash, Deadline: r.Deadline,
		Status: st, Tier: tier, Verdicts: verdicts, At: at.UTC(),
	}
}

// WebhookError is a delivery that failed for good.
type WebhookError struct {
	// Delivery is the payload's id.
	Delivery string
	// Attempts is how many POSTs were made.
	Attempts int
	// Status is the last HTTP status, 0 for a network error.
	Status int
	// Err is the last cause.
	Err error
}

// Error names the delivery, the attempts and the last cause.
func (e *WebhookError) Error() string {
	s := fmt.Sprintf("%v: delivery %s after %d attempt(s)", ErrWebhook, e.Delivery, e.Attempts)
	if e.Status != 0 {
		s += fmt.Sprintf(": status %d", e.Status)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns ErrWebhook and the last cause.
func (e *WebhookError) Unwrap() []error { return []error{ErrWebhook, e.Err} }

func (w *Webhook) post(ctx context.Context, p WebhookPayload) error {
	body, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("approve: encoding webhook payload: %w", err)
	}
	delay := w.cfg.InitialDelay
	var last *WebhookError
	for attempt := 1; ; attempt++ {
		status, retryAfter, err := w.once(ctx, p.Delivery, body)
		if err == nil {
			return nil
		}
		last = &WebhookError{Delivery: p.Delivery, Attempts: attempt, Status: status, Err: err}
		retryable := status == 0 || status == http.StatusTooManyRequests || status >= 500
		if ctx.Err() != nil {
			last.Err = errors.Join(err, ctx.Err())
			return last
		}
		if !retryable || attempt >= w.cfg.MaxAttempts {
			return last
		}
		wait := delay
		if retryAfter > 0 {
			wait = retryAfter
		}
		wait = min(wait, w.cfg.MaxDelay)
		delay = min(delay*2, w.cfg.MaxDelay)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			last.Err = errors.Join(err, ctx.Err())
			return last
		case <-t.C:
		}
	}
}

// once makes one POST. It returns the status (0 when no answer came), the
// Retry-After the server asked for, and an error unless the answer was 2xx.
func (w *Webhook) once(ctx context.Context, delivery string, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "iamplaybook-webhook/1")
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, "v1="+sign(w.cfg.Secret, ts, body))
	req.Header.Set(HeaderDelivery, delivery)
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may carry a token in its query; do not repeat it
		}
		return 0, 0, err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, 0, nil
	}
	var ra time.Duration
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
		ra = time.Duration(s) * time.Second
	}
	msg := strings.TrimSpace(string(snippet))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	return resp.StatusCode, ra, fmt.Errorf("receiver answered %q", msg)
}

func sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// ErrBadSignature is wrapped by VerifyWebhook's refusals.
var ErrBadSignature = errors.New("approve: webhook signature refused")

// VerifyWebhook checks a received webhook for a receiver written in Go: the
// signature header must hold a valid HMAC of the timestamp and body under
// secret (compared in constant time), and the timestamp must lie within
// tolerance of now, so that a captured request cannot be replayed later.
func VerifyWebhook(secret []byte, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: missing or malformed %s", ErrBadSignature, HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("%w: timestamp is %s away from now, outside the %s window", ErrBadSignature, d.Round(time.Second), tolerance)
	}
	got, ok := strings.CutPrefix(h.Get(HeaderSignature), "v1=")
	if !ok {
		return fmt.Errorf("%w: missing or malformed %s", ErrBadSignature, HeaderSignature)
	}
	gotMAC, err := hex.DecodeString(got)
	if err != nil {
		return fmt.Errorf("%w: malformed %s", ErrBadSignature, HeaderSignature)
	}
	want, _ := hex.DecodeString(sign(secret, ts, body))
	if !hmac.Equal(gotMAC, want) {
		return fmt.Errorf("%w: signature does not match", ErrBadSignature)
	}
	return nil
}
