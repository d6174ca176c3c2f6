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

func TestOnce(t *testing.T) {
	t.Parallel()
	req := request()
	recorded := playbook.ActionResult{Status: playbook.StatusApplied, Detail: "disabled at 10:00", Prior: []byte(`{"enabled":true}`)}
	dryRun := playbook.ActionResult{Status: playbook.StatusDryRun}
	already := playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: "was disabled"}
	tests := []struct {
		name       string
		seed       map[string]playbook.ActionResult // ledger contents before
		req        playbook.ActionRequest
		attempt    outcome
		wantRes    playbook.ActionResult
		wantErr    error
		wantCalls  int
		wantLedger map[string]playbook.ActionResult // ledger contents after
	}{
		{
			name:       "a new key executes and is recorded",
			req:        req,
			attempt:    outcome{Result: applied},
			wantRes:    applied,
			wantCalls:  1,
			wantLedger: map[string]playbook.ActionResult{contain.LedgerKey("disable-user", req.IdempotencyKey): applied},
		},
		{
			name:      "a recorded key returns its result as already-applied without executing",
			seed:      map[string]playbook.ActionResult{contain.LedgerKey("disable-user", req.IdempotencyKey): recorded},
			req:       req,
			attempt:   outcome{Result: applied},
			wantRes:   playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: recorded.Detail, Prior: recorded.Prior},
			wantCalls: 0,
		},
		{
			name:      "another idempotency key executes",
			seed:      map[string]playbook.ActionResult{contain.LedgerKey("disable-user", "other-key"): recorded},
			req:       req,
			attempt:   outcome{Result: applied},
			wantRes:   applied,
			wantCalls: 1,
		},
		{
			name:      "the same key of another action executes",
			seed:      map[string]playbook.ActionResult{contain.LedgerKey("revoke-sessions", req.IdempotencyKey): recorded},
			req:       req,
			attempt:   outcome{Result: applied},
			wantRes:   applied,
			wantCalls: 1,
		},
		{
			name:       "an already-applied result of the provider is recorded",
			req:        req,
			attempt:    outcome{Result: already},
			wantRes:    already,
			wantCalls:  1,
			wantLedger: map[string]playbook.ActionResult{contain.LedgerKey("disable-user", req.IdempotencyKey): already},
		},
		{
			name:       "a failure is not recorded",
			req:        req,
			attempt:    outcome{Err: errUnavailable},
			wantErr:    playbook.ErrUnavailable,
			wantCalls:  1,
			wantLedger: map[string]playbook.ActionResult{},
		},
		{
			name:       "a dry-run result is not recorded",
			req:        req,
			attempt:    outcome{Result: dryRun},
			wantRes:    dryRun,
			wantCalls:  1,
			wantLedger: map[string]playbook.ActionResult{},
		},
		{
			name:       "a request without idempotency key is refused",
			req:        playbook.ActionRequest{RunID: "run-1", Subject: playbook.Subject{ID: "u-1"}},
			attempt:    outcome{Result: applied},
			wantErr:    playbook.ErrInvalidRequest,
			wantCalls:  0,
			wantLedger: map[string]playbook.ActionResult{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ledger := contain.NewMemoryLedger()
			for k, v := range tt.seed {
				require.NoError(t, ledger.Put(t.Context(), k, v))
			}
			inner := newScripted("disable-user", tt.attempt)
			res, err := contain.Once(inner, ledger).Execute(t.Context(), tt.req)

			assert.Len(t, inner.exec.Calls(), tt.wantCalls, "executions")
			if tt.wantErr != nil {
				assert.ErrorIs(t, err, tt.wantErr)
			} else {
				require.NoError(t, err)
				assert.Equal(t, tt.wantRes, res)
			}
			if tt.wantLedger != nil {
				assert.Equal(t, len(tt.wantLedger)+len(tt.seed), ledger.Len(), "ledger size")
				for k, want := range tt.wantLedger {
					got, ok, err := ledger.Get(t.Context(), k)
					require.NoError(t, err)
					assert.True(t, ok, "key %q recorded", k)
					assert.Equal(t, want, got)
				}
			}
		})
	}
}

func TestOnceExecutesAKeyOnlyOnce(t *testing.T) {
	t.Parallel()
	inner := newScripted("disable-user", outcome{Result: applied})
	act := contain.Once(inner, contain.NewMemoryLedger())
	first, err := act.Execute(t.Context(), request())
	require.NoError(t, err)
	second, err := act.Execute(t.Context(), request())
	require.NoError(t, err)

	assert.Len(t, inner.exec.Calls(), 1)
	assert.Equal(t, applied, first)
	assert.Equal(t, playbook.ActionResult{Status: playbook.StatusAlreadyApplied, Detail: applied.Detail}, second)
}

func TestOnceSerialisesConcurrentCallsForOneKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := newScripted("disable-user", outcome{Delay: time.Second, Result: applied})
		act := contain.Once(inner, contain.NewMemoryLedger())
		const n = 8
		results := make([]playbook.ActionResult, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				var err error
				results[i], err = act.Execute(t.Context(), request())
				assert.NoError(t, err)
			})
		}
		wg.Wait()

		assert.Len(t, inner.exec.Calls(), 1, "one execution for one key")
		count := map[playbook.ActionStatus]int{}
		for _, r := range results {
			count[r.Status]++
		}
		assert.Equal(t, map[playbook.ActionStatus]int{playbook.StatusApplied: 1, playbook.StatusAlreadyApplied: n - 1}, count)
	})
}

func TestOnceWaitForKeyEndsWithContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		inner := newScripted("disable-user", outcome{Delay: time.Hour, Result: applied})
		act := contain.Once(inner, contain.NewMemoryLedger())
		var wg sync.WaitGroup
		wg.Go(func() {
			_, err := act.Execute(t.Context(), request())
			assert.NoError(t, err)
		})
		synctest.Wait() // the first call holds the key

		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		start := time.Now()
		_, err := act.Execute(ctx, request())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 5*time.Second, time.Since(start))
		wg.Wait()
		assert.Len(t, inner.exec.Calls(), 1)
	})
}

// brokenLedger is a Ledger whose Get and Put fail with the given errors.
type brokenLedger struct{ getErr, putErr error }

func (l brokenLedger) Get(context.Context, string) (playbook.ActionResult, bool, error) {
	return playbook.ActionResult{}, false, l.getErr
}

func (l brokenLedger) Put(context.Context, string, playbook.ActionResult) error { return l.putErr }

func TestOnceReportsLedgerFailures(t *testing.T) {
	t.Parallel()
	errDB := errors.New("database is locked")
	tests := []struct {
		name      string
		ledger    brokenLedger
		wantRes   playbook.ActionResult
		wantCalls int
		wantText  string
	}{
		{"a failed read does not execute", brokenLedger{getErr: errDB}, playbook.ActionResult{}, 0, "reading ledger key"},
		{"a failed record returns the result and the error", brokenLedger{putErr: errDB}, applied, 1, "executed (status applied) but recording ledger key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := newScripted("disable-user", outcome{Result: applied})
			res, err := contain.Once(inner, tt.ledger).Execute(t.Context(), request())
			assert.ErrorIs(t, err, errDB)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.Equal(t, tt.wantRes, res)
			assert.Len(t, inner.exec.Calls(), tt.wantCalls)
		})
	}
}

func TestMemoryLedgerCopiesResults(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l := contain.NewMemoryLedger()
	res := playbook.ActionResult{Status: playbook.StatusApplied, Prior: []byte(`{"a":1}`), Response: map[string]any{"id": "x"}}
	require.NoError(t, l.Put(ctx, "k", res))
	res.Prior[2] = 'X'
	res.Response["id"] = "changed"

	got, ok, err := l.Get(ctx, "k")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, `{"a":1}`, string(got.Prior), "Put copies Prior")
	assert.Equal(t, "x", got.Response["id"], "Put copies Response")

	got.Prior[2] = 'Y'
	got.Response["id"] = "changed"
	again, _, _ := l.Get(ctx, "k")
	assert.Equal(t, `{"a":1}`, string(again.Prior), "Get copies Prior")
	assert.Equal(t, "x", again.Response["id"], "Get copies Response")

	_, ok, err = l.Get(ctx, "missing")
	assert.NoError(t, err)
	assert.False(t, ok)
}
