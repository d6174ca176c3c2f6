package contain_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// checkScript is a verification check that returns errs in turn (the last
// repeats) and records what it was given.
type checkScript struct {
	mu   sync.Mutex
	errs []error
	reqs []playbook.ActionRequest
	ress []playbook.ActionResult
}

func (c *checkScript) check(_ context.Context, req playbook.ActionRequest, res playbook.ActionResult) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reqs = append(c.reqs, req)
	c.ress = append(c.ress, res)
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs[min(len(c.reqs), len(c.errs))-1]
}

func (c *checkScript) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

func TestVerify(t *testing.T) {
	t.Parallel()
	errStillEnabled := errors.New("user is still enabled")
	already := playbook.ActionResult{Status: playbook.StatusAlreadyApplied}
	tests := []struct {
		name       string
		attempt    outcome
		checkErr   error
		wantRes    playbook.ActionResult
		wantIs     []error
		wantClass  playbook.Class
		wantChecks int
	}{
		{
			name:       "a passing check returns the result",
			attempt:    outcome{Result: applied},
			wantRes:    applied,
			wantChecks: 1,
		},
		{
			name:       "already-applied results are checked too",
			attempt:    outcome{Result: already},
			wantRes:    already,
			wantChecks: 1,
		},
		{
			name:       "a failing check is a transient verification failure",
			attempt:    outcome{Result: applied},
			checkErr:   errStillEnabled,
			wantRes:    applied,
			wantIs:     []error{contain.ErrVerificationFailed, errStillEnabled},
			wantClass:  playbook.ClassTransient,
			wantChecks: 1,
		},
		{
			name:       "a check may stop retrying with a permanent error",
			attempt:    outcome{Result: applied},
			checkErr:   errNotFound,
			wantRes:    applied,
			wantIs:     []error{contain.ErrVerificationFailed, playbook.ErrNotFound},
			wantClass:  playbook.ClassPermanent,
			wantChecks: 1,
		},
		{
			name:       "a failed execution is not checked",
			attempt:    outcome{Err: errUnavailable},
			wantIs:     []error{playbook.ErrUnavailable},
			wantClass:  playbook.ClassTransient,
			wantChecks: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			act := newScripted("a", tt.attempt)
			check := &checkScript{errs: []error{tt.checkErr}}
			res, err := contain.Verify(act, check.check).Execute(t.Context(), request())

			assert.Equal(t, tt.wantChecks, check.count(), "checks")
			if tt.wantChecks > 0 {
				assert.Equal(t, []playbook.ActionRequest{request()}, check.reqs, "the check sees the request")
				assert.Equal(t, []playbook.ActionResult{tt.attempt.Result}, check.ress, "the check sees the result")
			}
			assert.Equal(t, tt.wantRes, res)
			if tt.wantIs == nil {
				require.NoError(t, err)
				return
			}
			for _, want := range tt.wantIs {
				assert.ErrorIs(t, err, want)
			}
			assert.Equal(t, tt.wantClass, playbook.Classify(err))
		})
	}
}

func TestRetryAroundVerify(t *testing.T) {
	t.Parallel()
	errStillEnabled := errors.New("user is still enabled")
	tests := []struct {
		name       string
		checkErrs  []error
		wantCalls  int
		wantReason string // "" means success
	}{
		{"re-executes until the check passes", []error{errStillEnabled, errStillEnabled, nil}, 3, ""},
		{"gives up with the verification failure", []error{errStillEnabled}, 3, contain.ReasonAttempts},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				inner := newScripted("a", outcome{Result: applied})
				check := &checkScript{errs: tt.checkErrs}
				act := contain.Retry(contain.Verify(inner, check.check),
					contain.RetryPolicy{InitialInterval: time.Second, MaxAttempts: 3, NoJitter: true})
				res, err := act.Execute(t.Context(), request())

				assert.Len(t, inner.exec.Calls(), tt.wantCalls, "executions")
				assert.Equal(t, tt.wantCalls, check.count(), "checks")
				assert.Equal(t, seconds(1, 2), gaps(inner.exec.Calls()))
				if tt.wantReason == "" {
					require.NoError(t, err)
					assertResult(t, applied, res)
					return
				}
				requireRetryError(t, err, tt.wantReason, tt.wantCalls)
				assert.ErrorIs(t, err, contain.ErrVerificationFailed)
				assert.ErrorIs(t, err, errStillEnabled)
			})
		})
	}
}
