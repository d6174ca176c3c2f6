package okta_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
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
