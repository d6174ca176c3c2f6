package okta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
	"github.com/iamplaybook/iamplaybook/store"
)

const hookSecret = "hook-shared-secret-value"

// hookEnv runs a receiver over an httptest server; events it hands over
// arrive on got.
func hookEnv(t *testing.T, cfg okta.HookConfig, running bool) (e env, url string, got chan playbook.Event) {
	t.Helper()
	e = newEnv(t, okta.ProviderConfig{})
	cfg.Secret = hookSecret
	h, err := e.p.HookReceiver(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	got = make(chan playbook.Event, 100)
	if running {
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- h.Run(ctx, func(_ context.Context, ev playbook.Event) error { got <- ev; return nil })
		}()
		t.Cleanup(func() { cancel(); <-done })
		// Run marks the receiver active before it blocks; a delivery
		// before that is answered 503, so wait for a probe to pass.
		require.NoError(t, awaitActive(t, srv.URL, e))
	}
	return e, srv.URL, got
}

// awaitActive posts empty deliveries until the receiver accepts one.
func awaitActive(t *testing.T, url string, e env) error {
	body := e.srv.EventHookBody()
	for {
		st, err := oktatest.PostEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret, body)
		if err != nil || st == http.StatusOK {
			return err
		}
		if err := t.Context().Err(); err != nil {
			return err
		}
	}
}

func TestHookVerification(t *testing.T) {
	t.Parallel()
	_, url, _ := hookEnv(t, okta.HookConfig{}, false)
	require.NoError(t, oktatest.VerifyEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret))
	require.Error(t, oktatest.VerifyEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, "wrong"))
	require.Error(t, oktatest.VerifyEventHook(t.Context(), http.DefaultClient, url, "", ""))
}

func TestHookDeliveries(t *testing.T) {
	t.Parallel()
	e, url, got := hookEnv(t, okta.HookConfig{MaxBodyBytes: 64 << 10}, true)
	alice := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
	bob := e.srv.AddLogEvent(riskEvent("00ubob", "MEDIUM"))
	signIn := e.srv.AddLogEvent(okta.LogEvent{EventType: okta.EventSessionStart, Actor: okta.Actor{ID: "00ualice", Type: "User"}})
	batch := e.srv.EventHookBody(alice, signIn, bob)

	tests := []struct {
		name   string
		header string
		secret string
		body   []byte
		want   int
	}{
		{"no secret", "", "", batch, http.StatusUnauthorized},
		{"wrong secret", okta.DefaultHookHeader, "hook-shared-secret-valuf", batch, http.StatusUnauthorized},
		{"secret in another header", "X-Other", hookSecret, batch, http.StatusUnauthorized},
		{"malformed", okta.DefaultHookHeader, hookSecret, []byte(`{"eventType":"com.okta.event_hook","data":{"events":[{"uuid":"x"}]}}`), http.StatusBadRequest},
		{"too large", okta.DefaultHookHeader, hookSecret, []byte(`{"eventType":"` + strings.Repeat("x", 70<<10) + `"}`), http.StatusRequestEntityTooLarge},
		{"sample sign-in", okta.DefaultHookHeader, hookSecret, readTestdata(t, "okta-eventhook-user.session.start.json"), http.StatusOK},
	}
	for _, tc := range tests {
		st, err := oktatest.PostEventHook(t.Context(), http.DefaultClient, url, tc.header, tc.secret, tc.body)
		require.NoError(t, err)
		assert.Equal(t, tc.want, st, tc.name)
	}
	assert.Empty(t, got, "an unauthenticated, malformed or irrelevant delivery was processed")

	// The real batch, delivered twice (Okta retries): each signal once.
	for range 2 {
		st, err := oktatest.PostEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret, batch)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, st)
	}
	var ids []string
	for range 2 {
		select {
		case ev := <-got:
			ids = append(ids, ev.ID)
			assert.Equal(t, "okta/event-hook", ev.Source)
			assert.Equal(t, playbook.EventRiskyUser, ev.Type)
		case <-t.Context().Done():
			t.Fatal("the receiver handed nothing to the runner")
		}
	}
	assert.Equal(t, []string{alice.UUID, bob.UUID}, ids)
	// The next delivery after the duplicates proves they were dropped.
	carol := e.srv.AddLogEvent(riskEvent("00ucarol", "HIGH"))
	st, err := oktatest.PostEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret, e.srv.EventHookBody(carol))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, carol.UUID, (<-got).ID)
}

func TestHookNotRunning(t *testing.T) {
	t.Parallel()
	e, url, _ := hookEnv(t, okta.HookConfig{}, false)
	st, err := oktatest.PostEventHook(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret, e.srv.EventHookBody(e.srv.AddLogEvent(riskEvent("00ua", "HIGH"))))
	require.NoError(t, err)
	assert.Equal(t, http.StatusServiceUnavailable, st, "a delivery nobody will process must be refused so that Okta retries")
}

func TestHookConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	_, err := e.p.HookReceiver(okta.HookConfig{})
	require.ErrorContains(t, err, "Secret is required")
	h, err := e.p.HookReceiver(okta.HookConfig{Secret: "s"})
	require.NoError(t, err)
	require.ErrorContains(t, h.Run(t.Context(), nil), "emit is nil")
}

func TestHookEmulatorDelivery(t *testing.T) {
	t.Parallel()
	e, url, got := hookEnv(t, okta.HookConfig{}, true)
	id := e.user(t, okta.StatusActive)
	gid := e.srv.AddGroup("Tier0", "")
	require.NoError(t, e.srv.AddToGroup(id, gid)) // logged, not privileged: not a signal
	risky := e.srv.AddLogEvent(riskEvent(id, "HIGH"))
	st, err := e.srv.DeliverEventHooks(t.Context(), http.DefaultClient, url, okta.DefaultHookHeader, hookSecret, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, st)
	assert.Equal(t, risky.UUID, (<-got).ID)
}

// quietLog discards the receiver's diagnostics.
var quietLog = slog.New(slog.DiscardHandler)

// answerWriter is a ResponseWriter that notes when the answer was started,
// so that an emit can tell whether it ran before it.
type answerWriter struct {
	*httptest.ResponseRecorder
	answered atomic.Bool
}

func (w *answerWriter) WriteHeader(code int) {
	w.answered.Store(true)
	w.ResponseRecorder.WriteHeader(code)
}

func (w *answerWriter) Write(b []byte) (int, error) {
	w.answered.Store(true)
	return w.ResponseRecorder.Write(b)
}

// deliverTo serves one authenticated delivery straight from the handler
// (no network, so that it runs inside a synctest bubble) and returns the
// answer. The current writer is published in *cur while it is served.
func deliverTo(t *testing.T, h http.Handler, body []byte, cur *atomic.Pointer[answerWriter]) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/okta/event-hook", bytes.NewReader(body))
	req.Header.Set(okta.DefaultHookHeader, hookSecret)
	w := &answerWriter{ResponseRecorder: httptest.NewRecorder()}
	if cur != nil {
		cur.Store(w)
	}
	h.ServeHTTP(w, req)
	return w.ResponseRecorder
}

// gatedEmit is an emit func that records its calls, refuses chosen ids
// once, stalls on chosen ids once (until its ctx ends) and notes every call
// made after the delivery it belongs to was answered.
type gatedEmit struct {
	cur *atomic.Pointer[answerWriter]

	mu       sync.Mutex
	calls    []string
	accepted []string
	late     []string
	refuse   map[string]error
	stall    map[string]bool
}

func (g *gatedEmit) emit(ctx context.Context, ev playbook.Event) error {
	g.mu.Lock()
	g.calls = append(g.calls, ev.ID)
	if w := g.cur.Load(); w == nil || w.answered.Load() {
		g.late = append(g.late, ev.ID)
	}
	err, refuse := g.refuse[ev.ID]
	delete(g.refuse, ev.ID)
	stall := g.stall[ev.ID]
	delete(g.stall, ev.ID)
	g.mu.Unlock()
	if stall {
		<-ctx.Done()
		return ctx.Err()
	}
	if refuse {
		return err
	}
	g.mu.Lock()
	g.accepted = append(g.accepted, ev.ID)
	g.mu.Unlock()
	return nil
}

func (g *gatedEmit) snapshot() (calls, accepted, late []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls), slices.Clone(g.accepted), slices.Clone(g.late)
}

func (g *gatedEmit) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls, g.accepted = nil, nil
}

// TestHookHandOff: the receiver answers 200 only after every event of the
// delivery was accepted by emit, in delivery order; a duplicate counts as
// accepted and an invalid event does not hold back the others; a transient
// refusal or an emit that outlasts HandoffTimeout gets 503, and Okta's
// retry then hands over only what was not accepted yet.
func TestHookHandOff(t *testing.T) {
	t.Parallel()
	const budget = 2 * time.Second
	tests := []struct {
		name      string
		refuse    map[string]error // by event: "alice", "bob"
		stall     []string
		want      int
		wantCalls []string // on the first delivery
		wantTime  time.Duration
		retry     []string // handed over again by the retry (which gets 200)
	}{
		{name: "all accepted", want: http.StatusOK, wantCalls: []string{"alice", "bob"}},
		{name: "duplicate counts as accepted", refuse: map[string]error{"alice": fmt.Errorf("playbook: %w", playbook.ErrDuplicate)},
			want: http.StatusOK, wantCalls: []string{"alice", "bob"}},
		{name: "invalid event does not hold back the others", refuse: map[string]error{"alice": fmt.Errorf("%w: subject.id is required", playbook.ErrInvalidEvent)},
			want: http.StatusOK, wantCalls: []string{"alice", "bob"}},
		{name: "first refused: nothing after it is tried", refuse: map[string]error{"alice": errors.New("store: database is locked")},
			want: http.StatusServiceUnavailable, wantCalls: []string{"alice"}, retry: []string{"alice", "bob"}},
		{name: "second refused: the first is not handed over again", refuse: map[string]error{"bob": playbook.ErrRunnerClosed},
			want: http.StatusServiceUnavailable, wantCalls: []string{"alice", "bob"}, retry: []string{"bob"}},
		{name: "emit outlasts the budget", stall: []string{"bob"},
			want: http.StatusServiceUnavailable, wantCalls: []string{"alice", "bob"}, wantTime: budget, retry: []string{"bob"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
				alice := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
				signIn := e.srv.AddLogEvent(okta.LogEvent{EventType: okta.EventSessionStart, Actor: okta.Actor{ID: "00ualice", Type: "User"}})
				bob := e.srv.AddLogEvent(riskEvent("00ubob", "MEDIUM"))
				ids := map[string]string{"alice": alice.UUID, "bob": bob.UUID}
				names := func(uuids []string) []string {
					out := []string{}
					for _, u := range uuids {
						for n, id := range ids {
							if id == u {
								out = append(out, n)
							}
						}
					}
					return out
				}
				cur := &atomic.Pointer[answerWriter]{}
				g := &gatedEmit{cur: cur, refuse: map[string]error{}, stall: map[string]bool{}}
				for n, err := range tc.refuse {
					g.refuse[ids[n]] = err
				}
				for _, n := range tc.stall {
					g.stall[ids[n]] = true
				}
				h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, HandoffTimeout: budget, Logger: quietLog})
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- h.Run(ctx, g.emit) }()
				synctest.Wait() // Run is taking deliveries
				body := e.srv.EventHookBody(alice, signIn, bob)

				start := time.Now()
				rec := deliverTo(t, h, body, cur)
				assert.Equal(t, tc.want, rec.Code)
				assert.Equal(t, tc.wantTime, time.Since(start), "when the answer came (bubble time)")
				calls, accepted, late := g.snapshot()
				assert.Equal(t, tc.wantCalls, names(calls))
				if tc.want == http.StatusOK {
					assert.Subset(t, accepted, []string{bob.UUID}, "answered 200 before bob was accepted")
				} else {
					assert.Equal(t, "5", rec.Header().Get("Retry-After"))
				}

				// Okta's retry, with emit healthy again: 200, and only
				// what was not accepted is handed over again.
				g.reset()
				rec = deliverTo(t, h, body, cur)
				assert.Equal(t, http.StatusOK, rec.Code, "retry")
				calls, accepted, late2 := g.snapshot()
				assert.Equal(t, tc.retry, nilIfEmpty(names(calls)), "handed over again by the retry")
				assert.Equal(t, calls, accepted)
				assert.Empty(t, append(late, late2...), "an event reached emit after the answer")

				cancel()
				require.NoError(t, <-done)
			})
		})
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// TestHookRefusesWhenNotRunning: a delivery nobody will hand over is
// answered 503 (Okta retries it) and reaches no emit: before Run, after
// Run returned; a later Run takes deliveries again.
func TestHookRefusesWhenNotRunning(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		runs    int  // Runs started and ended before the delivery
		running bool // a Run is active during the delivery
		want    int
	}{
		{name: "never started", want: http.StatusServiceUnavailable},
		{name: "stopped", runs: 1, want: http.StatusServiceUnavailable},
		{name: "restarted", runs: 1, running: true, want: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
				cur := &atomic.Pointer[answerWriter]{}
				g := &gatedEmit{cur: cur}
				h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, Logger: quietLog})
				require.NoError(t, err)
				for range tc.runs {
					ctx, cancel := context.WithCancel(t.Context())
					done := make(chan error, 1)
					go func() { done <- h.Run(ctx, g.emit) }()
					synctest.Wait()
					cancel()
					require.NoError(t, <-done)
				}
				if tc.running {
					ctx, cancel := context.WithCancel(t.Context())
					done := make(chan error, 1)
					go func() { done <- h.Run(ctx, g.emit) }()
					synctest.Wait()
					require.ErrorContains(t, h.Run(ctx, g.emit), "already running")
					defer func() { cancel(); require.NoError(t, <-done) }()
				}
				ev := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
				rec := deliverTo(t, h, e.srv.EventHookBody(ev), cur)
				assert.Equal(t, tc.want, rec.Code)
				calls, _, _ := g.snapshot()
				if tc.want == http.StatusOK {
					assert.Equal(t, []string{ev.UUID}, calls)
				} else {
					assert.Empty(t, calls, "a refused delivery reached emit")
					assert.Contains(t, rec.Body.String(), "not running")
				}
			})
		})
	}
}

// TestHookRunWaitsForHandOffs: when Run's ctx ends, a delivery being
// handed over is finished and answered before Run returns, and a delivery
// arriving meanwhile is refused with 503.
func TestHookRunWaitsForHandOffs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		release := make(chan struct{})
		var handed atomic.Int32
		emit := func(ctx context.Context, _ playbook.Event) error {
			select {
			case <-release:
				handed.Add(1)
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, Logger: quietLog})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx, emit) }()
		synctest.Wait()

		answered := make(chan int, 1)
		go func() {
			answered <- deliverTo(t, h, e.srv.EventHookBody(e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))), nil).Code
		}()
		synctest.Wait() // the delivery waits in emit
		cancel()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("Run returned while a delivery was being handed over")
		default:
		}
		late := deliverTo(t, h, e.srv.EventHookBody(e.srv.AddLogEvent(riskEvent("00ubob", "HIGH"))), nil)
		assert.Equal(t, http.StatusServiceUnavailable, late.Code, "a delivery after Run's ctx ended")
		close(release)
		assert.Equal(t, http.StatusOK, <-answered)
		require.NoError(t, <-done)
		assert.Equal(t, int32(1), handed.Load())
	})
}

// TestHookQueueBound: while deliveries are being handed over, one that
// would take the events in flight beyond Queue is refused at once with
// 503; a delivery alone is let in whatever its size.
func TestHookQueueBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		release := make(chan struct{})
		var mu sync.Mutex
		var got []string
		emit := func(ctx context.Context, ev playbook.Event) error {
			if ev.Subject.ID == "00ualice" {
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			mu.Lock()
			got = append(got, ev.ID)
			mu.Unlock()
			return nil
		}
		h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, Queue: 2, Logger: quietLog})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx, emit) }()
		synctest.Wait()
		defer func() { cancel(); require.NoError(t, <-done) }()

		alice := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
		answered := make(chan int, 1)
		go func() { answered <- deliverTo(t, h, e.srv.EventHookBody(alice), nil).Code }()
		synctest.Wait() // one event in flight

		bob, carol := e.srv.AddLogEvent(riskEvent("00ubob", "HIGH")), e.srv.AddLogEvent(riskEvent("00ucarol", "HIGH"))
		start := time.Now()
		busy := deliverTo(t, h, e.srv.EventHookBody(bob, carol), nil)
		assert.Equal(t, http.StatusServiceUnavailable, busy.Code, "1 + 2 events exceed Queue 2")
		assert.Contains(t, busy.Body.String(), "busy")
		assert.Zero(t, time.Since(start), "a delivery that does not fit is refused at once")
		assert.Equal(t, http.StatusOK, deliverTo(t, h, e.srv.EventHookBody(bob), nil).Code, "1 + 1 events fit")

		close(release)
		assert.Equal(t, http.StatusOK, <-answered)
		dave := e.srv.AddLogEvent(riskEvent("00udave", "HIGH"))
		assert.Equal(t, http.StatusOK, deliverTo(t, h, e.srv.EventHookBody(bob, carol, dave), nil).Code, "alone, 3 events are let in")
		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []string{bob.UUID, alice.UUID, carol.UUID, dave.UUID}, got)
	})
}

// gatedPolicy logs every case once release is closed; until then it holds
// the run (and the runner's admission slot).
func gatedPolicy(release <-chan struct{}) playbook.Policy {
	return playbook.PolicyFunc(func(ctx context.Context, _ *playbook.Case) (playbook.Decision, error) {
		select {
		case <-release:
			return playbook.Decision{Response: playbook.RespondLog, Rule: "test/log"}, nil
		case <-ctx.Done():
			return playbook.Decision{}, ctx.Err()
		}
	})
}

// TestHookRunnerBackpressure wires the receiver into a real
// playbook.Runner as its trigger: when the runner holds a delivery back
// past HandoffTimeout (MaxQueued reached) the receiver answers 503; Okta's
// retry after the runner catches up gets 200 and starts no second run, and
// neither does a redelivery to a restarted responder (empty memory, same
// store): the runner de-duplicates by the event uuid.
func TestHookRunnerBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		st := store.NewMemory()
		trail := audit.NewMemory()
		alice := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
		bob := e.srv.AddLogEvent(riskEvent("00ubob", "HIGH"))
		body := e.srv.EventHookBody(alice, bob)

		// start runs a responder: a receiver as the trigger of a runner
		// over st that queues at most one run.
		start := func(release <-chan struct{}) (*okta.HookReceiver, func()) {
			h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, Logger: quietLog})
			require.NoError(t, err)
			r, err := playbook.NewRunner(playbook.Playbook{Name: "okta-hook", Triggers: []playbook.Trigger{h}, Policy: gatedPolicy(release),
				Audit: []playbook.AuditSink{trail}}, playbook.Options{Store: st, MaxQueued: 1, Logger: quietLog})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			synctest.Wait()
			return h, func() { cancel(); require.NoError(t, <-done) }
		}
		runsByEvent := func() map[string]int {
			runs, err := st.ListRuns(t.Context(), playbook.RunFilter{})
			require.NoError(t, err)
			out := map[string]int{}
			for _, r := range runs {
				out[r.Event.ID]++
			}
			return out
		}

		release := make(chan struct{})
		h, stop := start(release)
		began := time.Now()
		rec := deliverTo(t, h, body, nil)
		assert.Equal(t, http.StatusServiceUnavailable, rec.Code, "bob waited for the runner past the budget")
		assert.Equal(t, okta.DefaultHookHandoffTimeout, time.Since(began))
		assert.Equal(t, map[string]int{alice.UUID: 1}, runsByEvent(), "alice was journaled, bob not")

		close(release) // the runner catches up
		synctest.Wait()
		rec = deliverTo(t, h, body, nil)
		assert.Equal(t, http.StatusOK, rec.Code, "Okta's retry")
		assert.Equal(t, map[string]int{alice.UUID: 1, bob.UUID: 1}, runsByEvent())
		stop()

		h, stop = start(release)
		rec = deliverTo(t, h, body, nil)
		assert.Equal(t, http.StatusOK, rec.Code, "a redelivery to a restarted responder")
		stop()
		assert.Equal(t, map[string]int{alice.UUID: 1, bob.UUID: 1}, runsByEvent(), "a redelivery started a second run")
		dups := trail.Filter(func(r audit.Record) bool { return r.Type == audit.TypeEventDuplicate })
		assert.Len(t, dups, 2, "the restarted runner saw both events as duplicates")
	})
}

// TestHookOverlappingRetry: Okta retries a delivery it stopped waiting
// for while the first attempt is still being handed over. The retry hands
// the event over itself rather than trusting the attempt in flight, so its
// 200 holds even though that attempt then fails.
func TestHookOverlappingRetry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		alice := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))
		body := e.srv.EventHookBody(alice)
		g := &gatedEmit{cur: &atomic.Pointer[answerWriter]{}, stall: map[string]bool{alice.UUID: true}}
		h, err := e.p.HookReceiver(okta.HookConfig{Secret: hookSecret, Logger: quietLog})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx, g.emit) }()
		synctest.Wait()
		defer func() { cancel(); require.NoError(t, <-done) }()

		first := make(chan int, 1)
		go func() { first <- deliverTo(t, h, body, nil).Code }()
		synctest.Wait() // the first attempt stalls in emit
		assert.Equal(t, http.StatusOK, deliverTo(t, h, body, nil).Code, "the retry")
		assert.Equal(t, http.StatusServiceUnavailable, <-first, "the first attempt ran out of time")
		calls, accepted, _ := g.snapshot()
		assert.Equal(t, []string{alice.UUID, alice.UUID}, calls)
		assert.Equal(t, []string{alice.UUID}, accepted)
	})
}
