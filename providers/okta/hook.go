package okta

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Event Hook receiver defaults.
const (
	// DefaultHookHeader is the header Okta sends the shared secret in when
	// the hook is configured with authScheme HEADER "Authorization".
	DefaultHookHeader = "Authorization"
	// DefaultHookQueue bounds the events accepted but not yet handed to
	// the runner.
	DefaultHookQueue = 1024
	// VerificationHeader carries Okta's one-time verification challenge.
	VerificationHeader = "X-Okta-Verification-Challenge"
)

// HookConfig configures an Event Hook receiver.
type HookConfig struct {
	// Secret is the shared secret Okta sends in Header with every
	// request (the hook's authScheme value). Required. Compared in
	// constant time; never logged.
	Secret string
	// Header is the header that carries Secret. Default
	// DefaultHookHeader.
	Header string
	// MaxBodyBytes bounds a delivery. Default MaxEventHookBytes.
	MaxBodyBytes int64
	// Queue bounds accepted events waiting for the runner; a delivery that
	// does not fit is answered 503 so that Okta retries it. Default
	// DefaultHookQueue.
	Queue int
	// Submit hands events to the runner when Run is called with a nil
	// emit (for example func(ctx, ev) error { _, err := r.Handle(ctx, ev);
	// return err }). Optional.
	Submit func(context.Context, playbook.Event) error
	// Logger receives diagnostics. Nil means slog.Default().
	Logger *slog.Logger
}

// HookReceiver is an Event Hook endpoint (an http.Handler) and the
// playbook.Trigger that hands what it receives to the runner.
//
// GET with X-Okta-Verification-Challenge answers the one-time verification
// with {"verification": challenge}. POST takes a delivery: the shared
// secret is checked in constant time (401 and nothing processed when it
// is missing or wrong), the body is bounded (413 beyond MaxBodyBytes) and
// decoded (400 with the reason when malformed), each data.events[] entry
// is mapped and queued, and the handler answers 200 at once: Okta expects
// an answer within 3 seconds. Run drains the queue into emit. Events are
// de-duplicated by uuid. A delivery received while no Run is active, or
// that does not fit in the queue, is answered 503 so that Okta retries.
// Events still queued when Run's ctx ends are dropped (Okta does not
// redeliver them; the System Log poller still sees them).
type HookReceiver struct {
	p      *Provider
	secret []byte
	header string
	max    int64
	submit func(context.Context, playbook.Event) error
	log    *slog.Logger
	seen   *seenSet

	mu     sync.Mutex
	queue  chan playbook.Event
	active bool
}

// HookReceiver returns an Event Hook receiver over the provider. The error
// names a bad field.
func (p *Provider) HookReceiver(cfg HookConfig) (*HookReceiver, error) {
	if cfg.Secret == "" {
		return nil, errors.New("okta: HookConfig.Secret is required: deliveries must be authenticated")
	}
	if cfg.Header == "" {
		cfg.Header = DefaultHookHeader
	}
	if cfg.MaxBodyBytes < 0 || cfg.Queue < 0 {
		return nil, errors.New("okta: HookConfig.MaxBodyBytes and Queue must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = MaxEventHookBytes
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultHookQueue
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	return &HookReceiver{p: p, secret: []byte(cfg.Secret), header: cfg.Header, max: cfg.MaxBodyBytes, submit: cfg.Submit,
		log: lg.With("trigger", "okta-event-hook"), seen: newSeenSet(defaultSeen), queue: make(chan playbook.Event, cfg.Queue)}, nil
}

var (
	_ playbook.Trigger = (*HookReceiver)(nil)
	_ http.Handler     = (*HookReceiver)(nil)
)

// Run hands queued events to emit (or to HookConfig.Submit when emit is
// nil) until ctx ends, then returns nil. Only one Run may be active.
func (h *HookReceiver) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	if emit == nil {
		emit = h.submit
	}
	if emit == nil {
		return errors.New("okta: HookReceiver.Run: emit is nil and HookConfig.Submit is not set")
	}
	h.mu.Lock()
	if h.active {
		h.mu.Unlock()
		return errors.New("okta: HookReceiver.Run: already running")
	}
	h.active = true
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.active = false
		h.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev := <-h.queue:
			if err := emit(ctx, ev); err != nil && !errors.Is(err, playbook.ErrDuplicate) {
				if ctx.Err() != nil {
					return nil
				}
				h.log.Error("okta: event hook event refused by the runner", "id", ev.ID, "type", ev.Type, "error", err)
				if !errors.Is(err, playbook.ErrInvalidEvent) {
					h.seen.forget(ev.ID) // a redelivery may succeed
				}
			}
		}
	}
}

// ServeHTTP implements the Event Hook endpoint; see HookReceiver.
func (h *HookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="okta-event-hook"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.Method {
	case http.MethodGet:
		ch := r.Header.Get(VerificationHeader)
		if ch == "" || len(ch) > 1024 {
			http.Error(w, "missing or oversized "+VerificationHeader+" header", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"verification": ch})
	case http.MethodPost:
		h.deliver(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (h *HookReceiver) authorized(r *http.Request) bool {
	got := []byte(r.Header.Get(h.header))
	return len(got) > 0 && subtle.ConstantTimeCompare(got, h.secret) == 1
}

func (h *HookReceiver) deliver(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "delivery exceeds the size limit", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the delivery failed", http.StatusBadRequest)
		return
	}
	hook, err := DecodeEventHook(body)
	if err != nil {
		h.log.Warn("okta: malformed event hook delivery", "error", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var evs []playbook.Event
	for _, e := range hook.Events {
		ev, ok, err := h.p.mapper.Map(e)
		if err != nil {
			h.log.Warn("okta: skipping an event whose details cannot be parsed", "uuid", e.UUID, "eventType", e.EventType, "error", err)
			continue
		}
		if ok {
			ev.Source = "okta/event-hook"
			evs = append(evs, ev)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.active || cap(h.queue)-len(h.queue) < len(evs) {
		w.Header().Set("Retry-After", "5")
		http.Error(w, "receiver busy or not running", http.StatusServiceUnavailable)
		return
	}
	for _, ev := range evs {
		if h.seen.add(ev.ID) {
			h.queue <- ev // fits: checked above under h.mu, Run only removes
		}
	}
	w.WriteHeader(http.StatusOK)
}
