package ssf_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/ssf"
	"github.com/iamplaybook/iamplaybook/providers/ssf/ssftest"
	"github.com/iamplaybook/iamplaybook/store"
)

func jtiOf(c map[string]any) string { return c["jti"].(string) }

// TestPollAckAndSetErrs: an accepted SET is acknowledged in the next
// request, a forged one reported in setErrs, one the runner could not take
// neither (the transmitter offers it again, and it is accepted then), and
// a re-offered SET already handled is acknowledged as a replay.
func TestPollAckAndSetErrs(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	failOnce := map[string]bool{}
	e := newEnv(t, envOptions{handle: func(h func(context.Context, playbook.Event) (string, error)) func(context.Context, playbook.Event) (string, error) {
		return func(ctx context.Context, ev playbook.Event) (string, error) {
			mu.Lock()
			fail := failOnce[ev.Attributes[ssf.AttrJTI]]
			delete(failOnce, ev.Attributes[ssf.AttrJTI])
			mu.Unlock()
			if fail {
				return "", errors.New("store unavailable")
			}
			return h(ctx, ev)
		}
	}})
	good, retry := compromise(e.tx), compromise(e.tx)
	failOnce[jtiOf(retry)] = true
	forgedClaims := compromise(e.tx)
	forged, err := ssftest.Forge(e.tx.MustSign(compromise(e.tx)), forgedClaims)
	require.NoError(t, err)
	goodTok := e.tx.MustSign(good)
	e.tx.Enqueue(jtiOf(good), goodTok)
	e.tx.Enqueue(jtiOf(retry), e.tx.MustSign(retry))
	e.tx.Enqueue(jtiOf(forgedClaims), forged)

	p, err := ssf.NewPoller(e.rcv, ssf.PollerConfig{Endpoint: e.tx.PollURL(), Client: e.tx.Client(), ReturnImmediately: true, MaxEvents: 10, Logger: quiet})
	require.NoError(t, err)

	rep, err := p.Poll(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Received)
	assert.Equal(t, ssf.OutcomeAccepted, rep.Results[jtiOf(good)].Outcome)
	assert.Equal(t, ssf.OutcomeRetry, rep.Results[jtiOf(retry)].Outcome)
	assert.Equal(t, ssf.OutcomeRejected, rep.Results[jtiOf(forgedClaims)].Outcome)
	assert.Empty(t, e.tx.Acked(), "acknowledgements travel with the next request")
	assert.Equal(t, []string{jtiOf(good)}, p.Pending())

	rep, err = p.Poll(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, rep.Acked)
	assert.Equal(t, 1, rep.Reported)
	assert.Equal(t, 1, rep.Received, "the SET the runner could not take is offered again")
	assert.Equal(t, ssf.OutcomeAccepted, rep.Results[jtiOf(retry)].Outcome)
	calls := e.tx.PollCalls()
	require.Len(t, calls, 2)
	assert.Equal(t, []string{jtiOf(good)}, calls[1].Ack, "only the durably accepted SET is acknowledged")
	assert.Equal(t, string(ssf.CodeAuthenticationFailed), calls[1].SetErrs[jtiOf(forgedClaims)].Err)
	require.NotNil(t, calls[1].MaxEvents)
	assert.Equal(t, 10, *calls[1].MaxEvents)
	assert.True(t, calls[1].ReturnImmediately)

	// The transmitter offers the good SET again (as if our ack was lost).
	e.tx.Enqueue(jtiOf(good), goodTok)
	rep, err = p.Poll(t.Context())
	require.NoError(t, err)
	assert.Equal(t, ssf.OutcomeReplay, rep.Results[jtiOf(good)].Outcome)
	_, err = p.Poll(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{jtiOf(good), jtiOf(retry), jtiOf(good)}, e.tx.Acked())
	assert.Empty(t, e.tx.Pending())
	assert.Len(t, e.runs(t), 2)
	assert.Len(t, e.records(audit.TypeEventRejected), 1)
	assert.Len(t, e.records(audit.TypeEventDuplicate), 1)
}

// TestPollBackoff: while the stream is empty the poller waits 1s, 2s, 4s,
// then the 8s cap between polls; a SET resets the wait and is acknowledged
// by the poll that follows at once; Run returns nil when stopped.
func TestPollBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		tx, err := ssftest.NewInProcess("https://tx.example", ssftest.Options{}, nil)
		require.NoError(t, err)
		ks, err := ssf.NewKeySet(tx.JWKSURI(), ssf.KeySetOptions{Client: tx.Client()})
		require.NoError(t, err)
		v, err := ssf.NewVerifier(ssf.VerifierConfig{Issuer: tx.Issuer, Audience: []string{tx.Audience()}, Keys: ks})
		require.NoError(t, err)
		runner, err := playbook.NewRunner(playbook.Playbook{Name: "poll", Policy: logPolicy(), Audit: []playbook.AuditSink{audit.NewMemory()}},
			playbook.Options{Store: store.NewMemory(), Logger: quiet})
		require.NoError(t, err)
		rcv, err := ssf.New(ssf.Config{Verifier: v, Handle: runner.Handle, Audit: audit.NewMemory(), Logger: quiet})
		require.NoError(t, err)
		p, err := ssf.NewPoller(rcv, ssf.PollerConfig{Endpoint: tx.PollURL(), Client: tx.Client(), ReturnImmediately: true,
			MinBackoff: time.Second, MaxBackoff: 8 * time.Second, Logger: quiet})
		require.NoError(t, err)

		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()

		// Polls at 0, 1, 3, 7, 15, 23 s.
		for _, step := range []struct {
			sleep time.Duration
			want  int
		}{
			{500 * time.Millisecond, 1}, {time.Second, 2}, {2 * time.Second, 3}, {4 * time.Second, 4},
			{8 * time.Second, 5}, {8 * time.Second, 6},
		} {
			time.Sleep(step.sleep)
			synctest.Wait()
			assert.Len(t, tx.PollCalls(), step.want)
		}
		// t = 23.5s; a SET arrives, fetched at the 31s poll, after which
		// the poller polls at once (acknowledging it) and then backs off
		// from 1s again.
		c := tx.NewSET(ssf.RISCAccountDisabled, map[string]any{"reason": "hijacking"}, map[string]any{"format": "email", "email": "a@example.com"})
		tx.Enqueue(jtiOf(c), tx.MustSign(c))
		time.Sleep(8 * time.Second)
		synctest.Wait()
		calls := tx.PollCalls()
		require.Len(t, calls, 8)
		assert.Equal(t, []string{jtiOf(c)}, calls[7].Ack)
		time.Sleep(time.Second)
		synctest.Wait()
		assert.Len(t, tx.PollCalls(), 9)

		// The wait restarted from 1s: the next poll, at 34s, fetches a new
		// SET and the one right after acknowledges it.
		c2 := tx.NewSET(ssf.RISCAccountDisabled, nil, map[string]any{"format": "email", "email": "b@example.com"})
		tx.Enqueue(jtiOf(c2), tx.MustSign(c2))
		time.Sleep(2 * time.Second)
		synctest.Wait()
		cancel()
		require.NoError(t, <-done)
		assert.Contains(t, tx.Acked(), jtiOf(c2))
		assert.Empty(t, tx.Pending())
	})
}

// TestPollPermanentError: a refused poll (401) stops Run with the status.
func TestPollPermanentError(t *testing.T) {
	t.Parallel()
	tx, err := ssftest.New(ssftest.Options{Token: "poll-secret"})
	require.NoError(t, err)
	t.Cleanup(tx.Close)
	e := newEnv(t, envOptions{tx: tx})
	p, err := ssf.NewPoller(e.rcv, ssf.PollerConfig{Endpoint: tx.PollURL(), Client: tx.Client(), Authorization: "Bearer wrong", Logger: quiet})
	require.NoError(t, err)
	err = p.Run(t.Context())
	var pe *ssf.PollError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, http.StatusUnauthorized, pe.Status)
	assert.True(t, pe.Permanent())
	assert.NotContains(t, err.Error(), "poll-secret")

	p, err = ssf.NewPoller(e.rcv, ssf.PollerConfig{Endpoint: tx.PollURL(), Client: tx.Client(), Authorization: "Bearer poll-secret", ReturnImmediately: true, Logger: quiet})
	require.NoError(t, err)
	_, err = p.Poll(t.Context())
	require.NoError(t, err, "the right token is accepted")
}

// TestNewPollerConfig names the bad field.
func TestNewPollerConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		cfg    ssf.PollerConfig
		errHas string
	}{
		{ssf.PollerConfig{}, "Endpoint"},
		{ssf.PollerConfig{Endpoint: "http://idp.example/poll"}, "https"},
		{ssf.PollerConfig{Endpoint: e.tx.PollURL(), MaxEvents: -1}, "MaxEvents"},
		{ssf.PollerConfig{Endpoint: e.tx.PollURL(), MinBackoff: time.Minute, MaxBackoff: time.Second}, "MaxBackoff"},
		{ssf.PollerConfig{Endpoint: e.tx.PollURL(), Authorization: "Bearer x\r\nX-Evil: 1"}, "Authorization"},
	} {
		_, err := ssf.NewPoller(e.rcv, tc.cfg)
		require.Error(t, err)
		assert.Contains(t, err.Error(), tc.errHas)
	}
}
