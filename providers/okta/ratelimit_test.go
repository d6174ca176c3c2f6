package okta_test

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

// requestTimes returns when the emulator answered each request to op, and
// with which status.
func requestTimes(srv *oktatest.Server, op string) (times []time.Time, statuses []int) {
	for _, r := range srv.Requests() {
		if r.Op == op {
			times = append(times, r.Time)
			statuses = append(statuses, r.Status)
		}
	}
	return times, statuses
}

func TestRateLimitPacing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		pace      float64
		immediate int // requests sent at once before pacing starts
	}{
		{"half", 0.5, 6},
		{"quarter", 0.25, 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newInProcessEnv(t, oktatest.Options{RateLimit: 10}, okta.Config{PaceBelow: tc.pace})
				id := e.user(t, okta.StatusActive)
				t0 := time.Now()
				reset := t0.Add(oktatest.DefaultRateWindow)
				for range 11 {
					_, err := e.p.Client().GetUser(t.Context(), id)
					require.NoError(t, err)
				}
				times, statuses := requestTimes(e.srv, oktatest.OpGetUser)
				require.Len(t, times, 11, "the client must not retry: nothing was throttled")
				for i, st := range statuses {
					assert.Equal(t, http.StatusOK, st, "request %d was throttled: pacing failed", i+1)
				}
				for i := range tc.immediate {
					assert.Equal(t, t0, times[i], "request %d was delayed while Remaining was still high", i+1)
				}
				for i := tc.immediate; i < 10; i++ {
					assert.True(t, times[i].After(times[i-1]), "request %d was not paced after Remaining fell under %.0f%%", i+1, tc.pace*100)
					assert.True(t, times[i].Before(reset), "request %d was pushed past the reset", i+1)
				}
				assert.False(t, times[10].Before(reset), "the 11th request went out at %s, before X-Rate-Limit-Reset %s with Remaining 0", times[10].Sub(t0), reset.Sub(t0))
			})
		})
	}
}

func TestRateLimitNothingBeforeReset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		delay time.Duration
		want  time.Duration // X-Rate-Limit-Reset is whole epoch seconds
	}{
		{"whole seconds", 3 * time.Second, 3 * time.Second},
		{"rounded up", 1500 * time.Millisecond, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newInProcessEnv(t, oktatest.Options{}, okta.Config{})
				id := e.user(t, okta.StatusActive)
				disable := e.p.Actions()[playbook.ActionDisableUser]
				t0 := time.Now()
				e.srv.InjectThrottle(oktatest.OpSuspend, tc.delay)
				req := playbook.ActionRequest{RunID: "r", StepID: "s", IdempotencyKey: "k", Subject: e.p.Client().Subject(id), Attempt: 1}
				_, err := disable.Execute(t.Context(), req)
				require.ErrorIs(t, err, playbook.ErrThrottled)
				assert.Equal(t, playbook.ClassThrottled, playbook.Classify(err))
				d, ok := playbook.RetryAfter(err)
				require.True(t, ok, "the error carries no delay")
				assert.Equal(t, tc.want, d)

				// The caller retries at once: the client holds the request
				// until the bucket's reset.
				req.Attempt = 2
				res, err := disable.Execute(t.Context(), req)
				require.NoError(t, err)
				assert.Equal(t, playbook.StatusApplied, res.Status)
				times, statuses := requestTimes(e.srv, oktatest.OpSuspend)
				require.Equal(t, []int{http.StatusTooManyRequests, http.StatusOK}, statuses, "a request was sent while the bucket was closed")
				assert.Equal(t, t0.Add(tc.want), times[1], "the retry was not sent at X-Rate-Limit-Reset")

				// Reads are retried by the client itself after the reset.
				e.srv.InjectThrottle(oktatest.OpGetUser, tc.delay)
				t1 := time.Now()
				_, err = e.p.Client().GetUser(t.Context(), id)
				require.NoError(t, err)
				gt, gs := requestTimes(e.srv, oktatest.OpGetUser)
				n := len(gt)
				assert.Equal(t, []int{http.StatusTooManyRequests, http.StatusOK}, gs[n-2:])
				assert.False(t, gt[n-1].Before(t1.Add(tc.delay)), "the read was retried before the reset")
			})
		})
	}
}

func TestRateLimitCancel(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		e := newInProcessEnv(t, oktatest.Options{}, okta.Config{ReadRetries: -1})
		id := e.user(t, okta.StatusActive)
		e.srv.InjectThrottle(oktatest.OpGetUser, time.Minute)
		_, err := e.p.Client().GetUser(t.Context(), id)
		require.ErrorIs(t, err, playbook.ErrThrottled)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err = e.p.Client().GetUser(ctx, id)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		_, statuses := requestTimes(e.srv, oktatest.OpGetUser)
		assert.Len(t, statuses, 1, "a request was sent before the reset")
	})
}
