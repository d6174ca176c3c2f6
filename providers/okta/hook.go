package okta

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Event Hook receiver defaults.
const (
	// DefaultHookHeader is the header Okta sends the shared secret in when
	// the hook is configured with authScheme HEADER "Authorization".
	DefaultHookHeader = "Authorization"
	// DefaultHookQueue bounds the events being handed to the runner at
	// once, across concurrent deliveries.
	DefaultHookQueue = 1024
	// DefaultHookHandoffTimeout bounds how long a delivery's hand-off to
	// the runner may take before the receiver gives up and answers 503.
	// Okta waits 3 seconds for an answer; the rest is left for reading the
	// body and the network.
	DefaultHookHandoffTimeout = 2500 * time.Millisecond
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
	// Queue bounds the events being handed to the runner at once, summed
	// over concurrent deliveries; a delivery that does not fit is answered
	// 503 at once so that Okta retries it. A delivery is always let in
	// when no other is being handed over, whatever its size. Default
	// DefaultHookQueue.
	Queue int
	// HandoffTimeout bounds how long a delivery's events may take to be
	// accepted by the runner; when it runs out the delivery is answered
	// 503 so that Okta retries it. Keep it under Okta's 3-second answer
	// timeout. Default DefaultHookHandoffTimeout.
	HandoffTimeout time.Duration
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
// decoded (400 with the reason when malformed), and each data.events[]
// entry is mapped; an entry whose details cannot be parsed is logged and
// skipped, and entries that are not signals are ignored.
//
// The mapped events are then handed to the emit function of the active
// Run, one after the other in delivery order, inside ServeHTTP and under a
// deadline of HandoffTimeout. The receiver answers 200 only once every one
// of them was accepted: emit returned nil (the runner journaled the run),
// or an error wrapping playbook.ErrDuplicate (a run exists already), or
// one wrapping playbook.ErrInvalidEvent (the runner refused and audited
// it; a redelivery cannot change that, so it does not hold back the
// others). If emit fails otherwise, or the deadline passes first, the
// delivery is answered 503 so that Okta retries it; the events accepted
// before that are not handed over again (their uuids are remembered, and
// the runner de-duplicates them by id, which is the uuid, in any case).
// Okta retries a failed delivery only a limited number of times: an
// event it gives up on is still in the System Log, where a Poller finds
// it. A delivery received while no Run is active, or that does not fit in
// Queue, is answered 503 at once.
//
// ServeHTTP is safe for concurrent use; overlapping deliveries (an Okta
// retry of an attempt still in flight among them) call emit concurrently,
// so emit must be safe for that and return soon after its ctx ends, as
// playbook.Runner.Handle is and does: the answer waits for it.
type HookReceiver struct {
	p       *Provider
	secret  []byte
	header  string
	max     int64
	queue   int
	timeout time.Duration
	submit  func(context.Context, playbook.Event) error
	log     *slog.Logger
	seen    *seenSet // uuids the runner accepted

	mu       sync.Mutex
	running  bool                                        // a Run has not returned
	emit     func(context.Context, playbook.Event) error // nil unless deliveries are taken
	pending  int                                         // events being handed over
	handoffs sync.WaitGroup                              // deliveries being handed over
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
	if cfg.MaxBodyBytes < 0 || cfg.Queue < 0 || cfg.HandoffTimeout < 0 {
		return nil, errors.New("okta: HookConfig.MaxBodyBytes, Queue and HandoffTimeout must not be negative")
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = MaxEventHookBytes
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultHookQueue
	}
	if cfg.HandoffTimeout == 0 {
		cfg.HandoffTimeout = DefaultHookHandoffTimeout
	}
	lg := cfg.Logger
	if lg == nil {
		lg = slog.Default()
	}
	return &HookReceiver{p: p, secret: []byte(cfg.Secret), header: cfg.Header, max: cfg.MaxBodyBytes, queue: cfg.Queue,
		timeout: cfg.HandoffTimeout, submit: cfg.Submit, log: lg.With("trigger", "okta-event-hook"), seen: newSeenSet(defaultSeen)}, nil
}

var (
	_ playbook.Trigger = (*HookReceiver)(nil)
	_ http.Handler     = (*HookReceiver)(nil)
)

// Run takes deliveries, handing their events to emit (or to
// HookConfig.Submit when emit is nil), until ctx ends. It then answers
// 503 to new deliveries, waits for the deliveries being handed over to be
// answered (each within HandoffTimeout, provided emit honours its ctx) and
// returns nil. Only one Run may be active; a later Run may follow.
func (h *HookReceiver) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	if emit == nil {
		emit = h.submit
	}
	if emit == nil {
		return errors.New("okta: HookReceiver.Run: emit is nil and HookConfig.Submit is not set")
	}
	h.mu.Lock()
	if h.running {
		h.mu.Unlock()
		return errors.New("okta: HookReceiver.Run: already running")
	}
	h.running, h.emit = true, emit
	h.mu.Unlock()

	<-ctx.Done()

	h.mu.Lock()
	h.emit = nil // from here on no hand-off starts
	h.mu.Unlock()
	h.handoffs.Wait()
	h.mu.Lock()
	h.running = false
	h.mu.Unlock()
	return nil
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
	emit, refusal := h.begin(len(evs))
	if emit == nil {
		w.Header().Set("Retry-After", "5")
		http.Error(w, refusal, http.StatusServiceUnavailable)
		return
	}
	defer h.end(len(evs))
	ctx, cancel := context.WithTimeout(r.Context(), h.timeout)
	defer cancel()
	if err := h.handOff(ctx, emit, evs); err != nil {
		h.log.Warn("okta: event hook delivery not accepted; answering 503 so that Okta retries it", "eventId", hook.EventID, "error", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "the events were not all accepted; retry the delivery", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// begin registers a hand-off of n events and returns the active Run's
// emit, or nil and why the delivery is refused.
func (h *HookReceiver) begin(n int) (func(context.Context, playbook.Event) error, string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.emit == nil:
		return nil, "the receiver is not running"
	case h.pending > 0 && h.pending+n > h.queue:
		return nil, "the receiver is busy"
	}
	h.pending += n
	h.handoffs.Add(1)
	return h.emit, ""
}

// end unregisters a hand-off begun by begin(n).
func (h *HookReceiver) end(n int) {
	h.mu.Lock()
	h.pending -= n
	h.mu.Unlock()
	h.handoffs.Done()
}

// handOff hands evs to emit in order and returns nil once every one was
// accepted, or the error that stopped it at the first that was not (later
// ones are not tried, so that a redelivery keeps their order).
func (h *HookReceiver) handOff(ctx context.Context, emit func(context.Context, playbook.Event) error, evs []playbook.Event) error {
	for _, ev := range evs {
		if h.seen.has(ev.ID) {
			continue // accepted from an earlier delivery
		}
		if ctx.Err() != nil {
			return h.cutShort(ctx, ev, ctx.Err())
		}
		err := emit(ctx, ev)
		switch {
		case err == nil, errors.Is(err, playbook.ErrDuplicate):
		case errors.Is(err, playbook.ErrInvalidEvent):
			h.log.Error("okta: event hook event refused by the runner as invalid", "id", ev.ID, "type", ev.Type, "error", err)
		case ctx.Err() != nil:
			return h.cutShort(ctx, ev, err)
		default:
			return fmt.Errorf("event %s refused by the runner: %w", ev.ID, err)
		}
		h.seen.add(ev.ID)
	}
	return nil
}

// cutShort says why the hand-off of ev stopped once ctx ended.
func (h *HookReceiver) cutShort(ctx context.Context, ev playbook.Event, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("event %s: the hand-off took longer than HandoffTimeout (%s): %w", ev.ID, h.timeout, err)
	}
	return fmt.Errorf("event %s: the request ended during the hand-off: %w", ev.ID, err)
}

// has reports whether id was recorded (and not forgotten since).
func (s *seenSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	return ok
}
