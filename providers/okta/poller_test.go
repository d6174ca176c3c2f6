package okta_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

// riskEvent is a user.risk.detect event about userID at level.
func riskEvent(userID, level string) okta.LogEvent {
	return okta.LogEvent{EventType: okta.EventUserRiskDetect, DisplayMessage: "User risk detected",
		Actor:        okta.Actor{ID: "risk-engine", Type: "PublicClientApp", AlternateID: "Okta ITP"},
		Target:       []okta.Actor{{ID: userID, Type: "User", AlternateID: userID + "@example.com"}},
		DebugContext: &okta.DebugContext{DebugData: map[string]json.RawMessage{"risk": json.RawMessage(`"{previousLevel=LOW, level=` + level + `, detectionName=Entity Critical Action, issuer=OKTA}"`)}},
	}
}

// recorder is an emit func that records events and can refuse one id.
type recorder struct {
	mu     sync.Mutex
	got    []playbook.Event
	refuse map[string]error
}

func (r *recorder) emit(_ context.Context, ev playbook.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err, ok := r.refuse[ev.ID]; ok {
		delete(r.refuse, ev.ID)
		return err
	}
	r.got = append(r.got, ev)
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got {
		out = append(out, e.ID)
	}
	return out
}

func TestPollerCursorPersists(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		path := filepath.Join(t.TempDir(), "state.json")
		start := time.Now().Add(-time.Minute)
		e.srv.AddLogEvent(riskEvent("00uold", "HIGH"))
		first := e.srv.AddLogEvent(riskEvent("00ualice", "HIGH"))

		// run runs a poller over the state file until it has polled once,
		// calls then and lets it poll again, and returns what it emitted.
		run := func(then func()) []string {
			t.Helper()
			st, err := cursor.OpenFile(path)
			require.NoError(t, err)
			pl, err := e.p.Poller(okta.PollerConfig{Store: st, Since: start, Interval: 10 * time.Second})
			require.NoError(t, err)
			rec := &recorder{}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- pl.Run(ctx, rec.emit) }()
			synctest.Wait()
			if then != nil {
				then()
			}
			time.Sleep(10 * time.Second)
			synctest.Wait()
			cancel()
			require.NoError(t, <-done)
			return rec.ids()
		}
		old := e.srv.LogEvents()[0]
		var bob okta.LogEvent
		// bob's event arrives while the poller waits; the sign-in is skipped.
		got := run(func() {
			bob = e.srv.AddLogEvent(riskEvent("00ubob", "MEDIUM"))
			e.srv.AddLogEvent(okta.LogEvent{EventType: okta.EventSessionStart, Actor: okta.Actor{ID: "00ubob", Type: "User"}})
		})
		assert.Equal(t, []string{old.UUID, first.UUID, bob.UUID}, got)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Contains(t, string(data), okta.DefaultCursorKey(orgHost(t, e.srv.URL)))
		// A restarted poller resumes at the saved cursor: nothing is emitted
		// twice, and new events still arrive.
		var carol okta.LogEvent
		got = run(func() { carol = e.srv.AddLogEvent(riskEvent("00ucarol", "HIGH")) })
		assert.Equal(t, []string{carol.UUID}, got)
		assert.Empty(t, run(nil))
	})
}

func TestPollerRetriesRefusedPage(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		a := e.srv.AddLogEvent(riskEvent("00ua", "HIGH"))
		b := e.srv.AddLogEvent(riskEvent("00ub", "HIGH"))
		c := e.srv.AddLogEvent(riskEvent("00uc", "HIGH"))
		st := &cursor.Memory{}
		pl, err := e.p.Poller(okta.PollerConfig{Store: st, Since: time.Now().Add(-time.Hour), Interval: time.Second})
		require.NoError(t, err)
		rec := &recorder{refuse: map[string]error{
			b.UUID: errors.New("runner busy"), // retried
			c.UUID: playbook.ErrDuplicate,     // counts as delivered
		}}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- pl.Run(ctx, rec.emit) }()
		synctest.Wait()
		_, saved, _ := st.Get(t.Context(), okta.DefaultCursorKey(orgHost(t, e.srv.URL)))
		assert.False(t, saved, "the cursor advanced past a page with a refused event")
		time.Sleep(time.Second) // backoff
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, []string{a.UUID, b.UUID}, rec.ids(), "a was emitted once, b again after the refusal, c was a duplicate")
		_, saved, _ = st.Get(t.Context(), okta.DefaultCursorKey(orgHost(t, e.srv.URL)))
		assert.True(t, saved)
	})
}

func TestPollerStopsOnBadCredentials(t *testing.T) {
	t.Parallel()
	srv := oktatest.NewInProcess(oktatest.Options{APIToken: "right"})
	c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "wrong", HTTPClient: srv.HTTPClient()})
	require.NoError(t, err)
	p, err := okta.NewProvider(c, okta.ProviderConfig{})
	require.NoError(t, err)
	pl, err := p.Poller(okta.PollerConfig{})
	require.NoError(t, err)
	err = pl.Run(t.Context(), (&recorder{}).emit)
	require.ErrorIs(t, err, playbook.ErrUnauthenticated)
}

func TestPollerSkipsMalformedEvent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
		e.srv.AddLogEvent(okta.LogEvent{DisplayMessage: "an event without eventType"})
		good := e.srv.AddLogEvent(riskEvent("00ua", "HIGH"))
		pl, err := e.p.Poller(okta.PollerConfig{Since: time.Now().Add(-time.Hour)})
		require.NoError(t, err)
		rec := &recorder{}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- pl.Run(ctx, rec.emit) }()
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, []string{good.UUID}, rec.ids())
	})
}

// orgHost is the host part of an org URL, as the poller keys its cursor.
func orgHost(t *testing.T, org string) string {
	t.Helper()
	u, err := url.Parse(org)
	require.NoError(t, err)
	return u.Host
}
