package contain_test

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		d           time.Duration
		ctx         func(context.Context) (context.Context, func())
		attempt     outcome
		wantElapsed time.Duration
		wantRes     playbook.ActionResult
		wantIs      []error
		wantNotIs   []error
		wantClass   playbook.Class
	}{
		{
			name:        "an attempt that finishes in time passes through",
			d:           10 * time.Second,
			attempt:     outcome{Delay: 9 * time.Second, Result: applied},
			wantElapsed: 9 * time.Second,
			wantRes:     applied,
		},
		{
			name:        "an attempt that overruns is a transient attempt timeout",
			d:           10 * time.Second,
			attempt:     outcome{Delay: time.Hour, Result: applied},
			wantElapsed: 10 * time.Second,
			wantIs:      []error{contain.ErrAttemptTimeout, context.DeadlineExceeded},
			wantClass:   playbook.ClassTransient,
		},
		{
			name:        "errors before the deadline pass through",
			d:           10 * time.Second,
			attempt:     outcome{Delay: time.Second, Err: errNotFound},
			wantElapsed: time.Second,
			wantIs:      []error{playbook.ErrNotFound},
			wantNotIs:   []error{contain.ErrAttemptTimeout},
			wantClass:   playbook.ClassPermanent,
		},
		{
			name: "a parent cancellation is not an attempt timeout",
			d:    10 * time.Second,
			ctx: func(parent context.Context) (context.Context, func()) {
				ctx, cancel := context.WithCancel(parent)
				tm := time.AfterFunc(3*time.Second, cancel)
				return ctx, func() { tm.Stop(); cancel() }
			},
			attempt:     outcome{Delay: time.Hour, Result: applied},
			wantElapsed: 3 * time.Second,
			wantIs:      []error{context.Canceled},
			wantNotIs:   []error{contain.ErrAttemptTimeout},
			wantClass:   playbook.ClassPermanent,
		},
		{
			name: "a parent deadline is not an attempt timeout",
			d:    10 * time.Second,
			ctx: func(parent context.Context) (context.Context, func()) {
				return context.WithTimeout(parent, 3*time.Second)
			},
			attempt:     outcome{Delay: time.Hour, Result: applied},
			wantElapsed: 3 * time.Second,
			wantIs:      []error{context.DeadlineExceeded},
			wantNotIs:   []error{contain.ErrAttemptTimeout},
			wantClass:   playbook.ClassTransient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, stop := testContext(t, tt.ctx)
				defer stop()
				act := newScripted("a", tt.attempt)
				start := time.Now()
				res, err := contain.Timeout(act, tt.d).Execute(ctx, request())

				assert.Equal(t, tt.wantElapsed, time.Since(start))
				assert.Len(t, act.exec.Calls(), 1)
				if tt.wantIs == nil {
					require.NoError(t, err)
					assert.Equal(t, tt.wantRes, res)
					return
				}
				for _, want := range tt.wantIs {
					assert.ErrorIs(t, err, want)
				}
				for _, notWant := range tt.wantNotIs {
					assert.NotErrorIs(t, err, notWant)
				}
				assert.Equal(t, tt.wantClass, playbook.Classify(err))
			})
		})
	}
}

func TestRetryAroundTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		ctx         func(context.Context) (context.Context, func())
		outcomes    []outcome
		wantCalls   int
		wantElapsed time.Duration
		wantErr     bool
		wantReason  string
		wantIs      []error
	}{
		{
			name:        "timed-out attempts are retried until one succeeds",
			outcomes:    []outcome{{Delay: time.Hour}, {Delay: time.Hour}, {Delay: time.Second, Result: applied}},
			wantCalls:   3,
			wantElapsed: 5*time.Second + time.Second + 5*time.Second + 2*time.Second + time.Second,
		},
		{
			name:        "every attempt times out",
			outcomes:    []outcome{{Delay: time.Hour}},
			wantCalls:   3,
			wantElapsed: 5*time.Second + time.Second + 5*time.Second + 2*time.Second + 5*time.Second,
			wantErr:     true,
			wantReason:  contain.ReasonAttempts,
			wantIs:      []error{contain.ErrAttemptTimeout, context.DeadlineExceeded},
		},
		{
			name: "the caller's deadline stops retrying",
			ctx: func(parent context.Context) (context.Context, func()) {
				return context.WithTimeout(parent, 3*time.Second)
			},
			outcomes:    []outcome{{Delay: time.Hour}},
			wantCalls:   1,
			wantElapsed: 3 * time.Second,
			wantErr:     true,
			wantReason:  contain.ReasonContext,
			wantIs:      []error{context.DeadlineExceeded},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx, stop := testContext(t, tt.ctx)
				defer stop()
				inner := newScripted("a", tt.outcomes...)
				act := contain.Retry(contain.Timeout(inner, 5*time.Second),
					contain.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 3, NoJitter: true})
				start := time.Now()
				res, err := act.Execute(ctx, request())

				assert.Equal(t, tt.wantElapsed, time.Since(start))
				assert.Len(t, inner.exec.Calls(), tt.wantCalls)
				if !tt.wantErr {
					require.NoError(t, err)
					assertResult(t, applied, res)
					return
				}
				requireRetryError(t, err, tt.wantReason, tt.wantCalls)
				for _, want := range tt.wantIs {
					assert.ErrorIs(t, err, want)
				}
			})
		})
	}
}

func TestTimeoutBoundsUndo(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := newReversible("remove-role", outcome{Delay: time.Hour, Result: undone})
		start := time.Now()
		_, err := contain.Undo(t.Context(), contain.Timeout(inner, 5*time.Second), request(), applied)
		assert.ErrorIs(t, err, contain.ErrAttemptTimeout)
		assert.Contains(t, err.Error(), "undo")
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Len(t, inner.undo.Calls(), 1)
	})
}

// testContext returns t's context, derived by makeCtx when a case gives
// one, and the function that releases it.
func testContext(t *testing.T, makeCtx func(context.Context) (context.Context, func())) (context.Context, func()) {
	if makeCtx == nil {
		return t.Context(), func() {}
	}
	return makeCtx(t.Context())
}
