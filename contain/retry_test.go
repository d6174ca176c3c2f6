package contain_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// requireRetryError asserts that err is a *RetryError with the given reason
// and attempt count, and returns it.
func requireRetryError(t *testing.T, err error, reason string, attempts int) *contain.RetryError {
	t.Helper()
	var re *contain.RetryError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, reason, re.Reason, "Reason")
	assert.Equal(t, attempts, re.Attempts, "Attempts")
	return re
}

func TestRetryBacksOffOnTransientErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		policy   contain.RetryPolicy
		err      error
		wantGaps []time.Duration
	}{
		{
			name:     "defaults without jitter double from 500ms up to 5 attempts",
			policy:   contain.RetryPolicy{NoJitter: true},
			err:      errUnavailable,
			wantGaps: seconds(0.5, 1, 2, 4),
		},
		{
			name:     "growth is capped by MaxInterval",
			policy:   contain.RetryPolicy{InitialInterval: time.Second, Multiplier: 3, MaxInterval: 5 * time.Second, MaxAttempts: 6, NoJitter: true},
			err:      errUnavailable,
			wantGaps: seconds(1, 3, 5, 5, 5),
		},
		{
			name:     "multiplier 1 keeps the delay constant",
			policy:   contain.RetryPolicy{InitialInterval: 2 * time.Second, Multiplier: 1, MaxAttempts: 3, NoJitter: true},
			err:      errUnavailable,
			wantGaps: seconds(2, 2),
		},
		{
			name:     "MaxAttempts 1 never retries",
			policy:   contain.RetryPolicy{MaxAttempts: 1, NoJitter: true},
			err:      errUnavailable,
			wantGaps: nil,
		},
		{
			name:     "unknown errors are transient",
			policy:   contain.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 3, NoJitter: true},
			err:      errors.New("connection reset"),
			wantGaps: seconds(1, 2),
		},
		{
			name:     "throttled without Retry-After uses the backoff",
			policy:   contain.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 3, NoJitter: true},
			err:      throttled(0),
			wantGaps: seconds(1, 2),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted(playbook.ActionDisableUser, outcome{Err: tt.err})
				start := time.Now()
				_, err := contain.Retry(act, tt.policy).Execute(t.Context(), request())

				calls := act.exec.Calls()
				assert.Len(t, calls, len(tt.wantGaps)+1, "calls")
				assert.Equal(t, tt.wantGaps, gaps(calls), "delays between calls")
				var total time.Duration
				for _, g := range tt.wantGaps {
					total += g
				}
				assert.Equal(t, total, time.Since(start), "Retry must return right after the last attempt")
				re := requireRetryError(t, err, contain.ReasonAttempts, len(tt.wantGaps)+1)
				assert.ErrorIs(t, err, tt.err)
				assert.Equal(t, playbook.ActionDisableUser, re.Action)
				assert.Equal(t, "execute", re.Op)
			})
		})
	}
}

func TestRetryJitterStaysWithinBounds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		nominal := seconds(0.5, 1, 2, 4)
		varied := false
		for range 20 {
			act := newScripted("a", outcome{Err: errUnavailable})
			_, err := contain.Retry(act, contain.RetryPolicy{}).Execute(t.Context(), request())
			requireRetryError(t, err, contain.ReasonAttempts, contain.DefaultMaxAttempts)
			got := gaps(act.exec.Calls())
			require.Len(t, got, len(nominal))
			for i, d := range nominal {
				lo := time.Duration(float64(d) * (1 - contain.Jitter))
				hi := time.Duration(float64(d) * (1 + contain.Jitter))
				assert.GreaterOrEqual(t, got[i], lo, "delay %d", i)
				assert.LessOrEqual(t, got[i], hi, "delay %d", i)
				varied = varied || got[i] != d
			}
		}
		assert.True(t, varied, "with jitter on, some delay must differ from the nominal one")
	})
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		policy     contain.RetryPolicy
		outcomes   []outcome
		wantGaps   []time.Duration
		wantErr    error  // nil: success
		wantReason string // when wantErr != nil
	}{
		{
			name:     "waits exactly Retry-After, not the shorter backoff",
			policy:   contain.RetryPolicy{InitialInterval: 100 * time.Millisecond, NoJitter: true},
			outcomes: []outcome{{Err: throttled(7 * time.Second)}, {Result: applied}},
			wantGaps: seconds(7),
		},
		{
			name:     "Retry-After is neither capped by MaxInterval nor jittered",
			policy:   contain.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second},
			outcomes: []outcome{{Err: throttled(7 * time.Second)}, {Err: throttled(7 * time.Second)}, {Result: applied}},
			wantGaps: seconds(7, 7),
		},
		{
			name:     "a throttled wait does not advance the backoff",
			policy:   contain.RetryPolicy{InitialInterval: time.Second, NoJitter: true},
			outcomes: []outcome{{Err: throttled(7 * time.Second)}, {Err: errUnavailable}, {Err: errUnavailable}, {Result: applied}},
			wantGaps: seconds(7, 1, 2),
		},
		{
			name:     "a Retry-After that fits the budget exactly is waited",
			policy:   contain.RetryPolicy{MaxElapsed: 7 * time.Second},
			outcomes: []outcome{{Err: throttled(7 * time.Second)}, {Result: applied}},
			wantGaps: seconds(7),
		},
		{
			name:       "a Retry-After beyond the budget stops at once",
			policy:     contain.RetryPolicy{},
			outcomes:   []outcome{{Err: throttled(3 * time.Minute)}},
			wantGaps:   nil,
			wantErr:    playbook.ErrThrottled,
			wantReason: contain.ReasonBudget,
		},
		{
			name:       "a Retry-After beyond the remaining budget stops at once",
			policy:     contain.RetryPolicy{MaxElapsed: 10 * time.Second},
			outcomes:   []outcome{{Err: throttled(7 * time.Second)}, {Err: throttled(7 * time.Second)}},
			wantGaps:   seconds(7),
			wantErr:    playbook.ErrThrottled,
			wantReason: contain.ReasonBudget,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted("a", tt.outcomes...)
				start := time.Now()
				res, err := contain.Retry(act, tt.policy).Execute(t.Context(), request())

				calls := act.exec.Calls()
				assert.Equal(t, tt.wantGaps, gaps(calls), "delays between calls")
				var total time.Duration
				for _, g := range tt.wantGaps {
					total += g
				}
				assert.Equal(t, total, time.Since(start), "no wait after the last attempt")
				if tt.wantErr == nil {
					require.NoError(t, err)
					assertResult(t, applied, res)
					return
				}
				requireRetryError(t, err, tt.wantReason, len(calls))
				assert.ErrorIs(t, err, tt.wantErr)
			})
		})
	}
}

func TestRetryStopsAtOnceOnPermanentErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
	}{
		{"not found", errNotFound},
		{"permission denied", &playbook.ProviderError{Provider: "fake", Op: "disable-user", Status: 403, Err: playbook.ErrPermissionDenied}},
		{"marked permanent", playbook.Permanent(errUnavailable)},
		{"cancellation of another context", context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted("a", outcome{Err: tt.err})
				start := time.Now()
				_, err := contain.Retry(act, contain.RetryPolicy{}).Execute(t.Context(), request())

				assert.Len(t, act.exec.Calls(), 1)
				assert.Zero(t, time.Since(start), "no wait")
				requireRetryError(t, err, contain.ReasonPermanent, 1)
				assert.ErrorIs(t, err, tt.err)
				assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err), "RetryError keeps the classification")
			})
		})
	}
}

func TestRetryStopsWhenTimeBudgetIsSpent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		policy      contain.RetryPolicy
		attempt     outcome
		wantCalls   int
		wantElapsed time.Duration
	}{
		{
			name:        "growing delays: 0, 1s, 3s, 7s, then 8s would exceed 10s",
			policy:      contain.RetryPolicy{InitialInterval: time.Second, MaxElapsed: 10 * time.Second, MaxAttempts: 100, NoJitter: true},
			attempt:     outcome{Err: errUnavailable},
			wantCalls:   4,
			wantElapsed: 7 * time.Second,
		},
		{
			name:        "slow attempts count against the budget",
			policy:      contain.RetryPolicy{InitialInterval: time.Second, Multiplier: 1, MaxElapsed: 12 * time.Second, MaxAttempts: 100, NoJitter: true},
			attempt:     outcome{Delay: 5 * time.Second, Err: errUnavailable},
			wantCalls:   3, // start at 0s, 6s, 12s; the third ends at 17s
			wantElapsed: 17 * time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted("a", tt.attempt)
				start := time.Now()
				_, err := contain.Retry(act, tt.policy).Execute(t.Context(), request())

				assert.Len(t, act.exec.Calls(), tt.wantCalls)
				assert.Equal(t, tt.wantElapsed, time.Since(start))
				requireRetryError(t, err, contain.ReasonBudget, tt.wantCalls)
				assert.ErrorIs(t, err, playbook.ErrUnavailable)
			})
		})
	}
}

func TestRetryReturnsPromptlyWhenContextEnds(t *testing.T) {
	t.Parallel()
	errShutdown := errors.New("host shutting down")
	cancelAfter := func(d time.Duration) func(context.Context) (context.Context, func()) {
		return func(parent context.Context) (context.Context, func()) {
			ctx, cancel := context.WithCancel(parent)
			tm := time.AfterFunc(d, cancel)
			return ctx, func() { tm.Stop(); cancel() }
		}
	}
	tests := []struct {
		name        string
		ctx         func(context.Context) (context.Context, func())
		attempt     outcome
		wantCalls   int
		wantElapsed time.Duration
		wantIs      []error
	}{
		{
			name:        "cancelled during the wait",
			ctx:         cancelAfter(10 * time.Second),
			attempt:     outcome{Err: errUnavailable},
			wantCalls:   1,
			wantElapsed: 10 * time.Second,
			wantIs:      []error{context.Canceled, playbook.ErrUnavailable},
		},
		{
			name:        "cancelled during an attempt",
			ctx:         cancelAfter(10 * time.Second),
			attempt:     outcome{Delay: time.Hour, Result: applied},
			wantCalls:   1,
			wantElapsed: 10 * time.Second,
			wantIs:      []error{context.Canceled},
		},
		{
			name: "deadline passes during the wait",
			ctx: func(parent context.Context) (context.Context, func()) {
				return context.WithTimeout(parent, 5*time.Second)
			},
			attempt:     outcome{Err: errUnavailable},
			wantCalls:   1,
			wantElapsed: 5 * time.Second,
			wantIs:      []error{context.DeadlineExceeded, playbook.ErrUnavailable},
		},
		{
			name: "cancelled with a cause",
			ctx: func(parent context.Context) (context.Context, func()) {
				ctx, cancel := context.WithCancelCause(parent)
				tm := time.AfterFunc(10*time.Second, func() { cancel(errShutdown) })
				return ctx, func() { tm.Stop(); cancel(nil) }
			},
			attempt:     outcome{Err: errUnavailable},
			wantCalls:   1,
			wantElapsed: 10 * time.Second,
			wantIs:      []error{context.Canceled, errShutdown, playbook.ErrUnavailable},
		},
		{
			name: "cancelled before the first attempt",
			ctx: func(parent context.Context) (context.Context, func()) {
				ctx, cancel := context.WithCancel(parent)
				cancel()
				return ctx, cancel
			},
			attempt:     outcome{Result: applied},
			wantCalls:   0,
			wantElapsed: 0,
			wantIs:      []error{context.Canceled},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, stop := tt.ctx(t.Context())
				defer stop()
				act := newScripted("a", tt.attempt)
				policy := contain.RetryPolicy{InitialInterval: time.Minute, MaxElapsed: time.Hour, NoJitter: true}
				start := time.Now()
				_, err := contain.Retry(act, policy).Execute(ctx, request())

				assert.Equal(t, tt.wantElapsed, time.Since(start), "returns as soon as ctx ends")
				assert.Len(t, act.exec.Calls(), tt.wantCalls)
				requireRetryError(t, err, contain.ReasonContext, tt.wantCalls)
				for _, want := range tt.wantIs {
					assert.ErrorIs(t, err, want)
				}
			})
		})
	}
}

func TestRetryKeepsIdempotencyKeyAndCountsAttempts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		firstAttempt int
		wantAttempts []int
	}{
		{"from a first execution", 1, []int{1, 2, 3}},
		{"from an unset Attempt", 0, []int{1, 2, 3}},
		{"from a resumed step", 4, []int{4, 5, 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted("a", outcome{Err: errUnavailable}, outcome{Err: throttled(time.Second)}, outcome{Result: applied})
				req := request()
				req.Attempt = tt.firstAttempt
				_, err := contain.Retry(act, contain.RetryPolicy{}).Execute(t.Context(), req)
				require.NoError(t, err)

				calls := act.exec.Calls()
				require.Len(t, calls, len(tt.wantAttempts))
				for i, c := range calls {
					assert.Equal(t, tt.wantAttempts[i], c.Req.Attempt, "call %d", i)
					want := req
					want.Attempt = c.Req.Attempt
					assert.Equal(t, want, c.Req, "call %d passes the same request, key included", i)
				}
			})
		})
	}
}

func TestRetryReturnsTheSuccessfulResult(t *testing.T) {
	t.Parallel()
	already := playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: "already disabled"}
	tests := []struct {
		name      string
		outcomes  []outcome
		want      playbook.ActionResult
		wantCalls int
	}{
		{"first attempt succeeds", []outcome{{Result: applied}}, applied, 1},
		{"success after two failures", []outcome{{Err: errUnavailable}, {Err: errUnavailable}, {Result: applied}}, applied, 3},
		{"already-applied passes through", []outcome{{Result: already}}, already, 1},
		{"already-applied after a failure passes through", []outcome{{Err: errUnavailable}, {Result: already}}, already, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				act := newScripted("a", tt.outcomes...)
				res, err := contain.Retry(act, contain.RetryPolicy{}).Execute(t.Context(), request())
				require.NoError(t, err)
				assertResult(t, tt.want, res)
				assert.Len(t, act.exec.Calls(), tt.wantCalls)
			})
		})
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		policy    contain.RetryPolicy
		wantField string // "" means valid
	}{
		{"zero value", contain.RetryPolicy{}, ""},
		{"all set", contain.RetryPolicy{InitialInterval: time.Second, Multiplier: 1.5, MaxInterval: time.Minute, MaxAttempts: 3, MaxElapsed: time.Hour, NoJitter: true}, ""},
		{"InitialInterval above the default MaxInterval raises it", contain.RetryPolicy{InitialInterval: time.Minute}, ""},
		{"negative InitialInterval", contain.RetryPolicy{InitialInterval: -time.Second}, "InitialInterval"},
		{"negative MaxInterval", contain.RetryPolicy{MaxInterval: -time.Second}, "MaxInterval"},
		{"negative MaxElapsed", contain.RetryPolicy{MaxElapsed: -time.Second}, "MaxElapsed"},
		{"negative MaxAttempts", contain.RetryPolicy{MaxAttempts: -1}, "MaxAttempts"},
		{"negative Multiplier", contain.RetryPolicy{Multiplier: -2}, "Multiplier"},
		{"shrinking Multiplier", contain.RetryPolicy{Multiplier: 0.5}, "Multiplier"},
		{"NaN Multiplier", contain.RetryPolicy{Multiplier: math.NaN()}, "Multiplier"},
		{"infinite Multiplier", contain.RetryPolicy{Multiplier: math.Inf(1)}, "Multiplier"},
		{"MaxInterval below InitialInterval", contain.RetryPolicy{InitialInterval: 2 * time.Second, MaxInterval: time.Second}, "MaxInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.policy.Validate()
			if tt.wantField == "" {
				assert.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, contain.ErrInvalidConfig)
			assert.Contains(t, err.Error(), "RetryPolicy."+tt.wantField)

			// Retry reports the same error on every call, permanently,
			// without calling the action.
			act := newScripted("a", outcome{Result: applied})
			_, xerr := contain.Retry(act, tt.policy).Execute(t.Context(), request())
			require.ErrorIs(t, xerr, contain.ErrInvalidConfig)
			assert.Contains(t, xerr.Error(), "RetryPolicy."+tt.wantField)
			assert.Contains(t, xerr.Error(), `"a"`, "names the action")
			assert.Equal(t, playbook.ClassPermanent, playbook.Classify(xerr))
			assert.Empty(t, act.exec.Calls())
		})
	}
}

func TestRetryRetriesUndo(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := newReversible("remove-role", outcome{Err: errUnavailable}, outcome{Err: throttled(3 * time.Second)}, outcome{Result: undone})
		act := contain.Retry(inner, contain.RetryPolicy{InitialInterval: time.Second, NoJitter: true})
		done := playbook.ActionResult{Status: playbook.StatusApplied, Prior: []byte(`{"role":"admin"}`)}

		res, err := contain.Undo(t.Context(), act, request(), done)
		require.NoError(t, err)
		assertResult(t, undone, res)

		calls := inner.undo.Calls()
		require.Len(t, calls, 3)
		assert.Equal(t, seconds(1, 3), gaps(calls))
		for i, c := range calls {
			assert.Equal(t, request().IdempotencyKey, c.Req.IdempotencyKey)
			assert.Equal(t, i+1, c.Req.Attempt)
		}
		assert.Equal(t, []playbook.ActionResult{done, done, done}, inner.done, "each attempt gets the done result")
		assert.Empty(t, inner.exec.Calls(), "undo never executes")
	})
}

func TestRetryUndoGivesUpWithRetryError(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := newReversible("remove-role", outcome{Err: errNotFound})
		_, err := contain.Undo(t.Context(), contain.Retry(inner, contain.RetryPolicy{}), request(), applied)
		re := requireRetryError(t, err, contain.ReasonPermanent, 1)
		assert.Equal(t, "undo", re.Op)
		assert.ErrorIs(t, err, playbook.ErrNotFound)
	})
}

func TestRetryNotesAttempts(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		act := newScripted("disable-user", outcome{Err: errUnavailable}, outcome{Err: throttled(2 * time.Second)}, outcome{Result: applied})
		res, err := contain.Retry(act, contain.RetryPolicy{InitialInterval: time.Second, NoJitter: true}).Execute(t.Context(), request())
		require.NoError(t, err)
		assert.Equal(t, 3, res.Response["attempts"], "the evidence trail says how many attempts it took")
		errs, _ := res.Response["retried_errors"].([]string)
		assert.Len(t, errs, 2)

		once := newScripted("disable-user", outcome{Result: applied})
		res, err = contain.Retry(once, contain.RetryPolicy{}).Execute(t.Context(), request())
		require.NoError(t, err)
		assert.Equal(t, applied, res, "a first-time success is returned as is")
	})
}
