package enrich_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	unavailable := &playbook.ProviderError{Provider: "p", Op: "get user", Status: 503, Err: playbook.ErrUnavailable}
	notFound := &playbook.ProviderError{Provider: "p", Op: "get user", Status: 404, Err: playbook.ErrNotFound}
	tests := []struct {
		name      string
		failures  []error
		wantCalls int32
		wantErr   error
		wantTime  time.Duration
	}{
		{name: "transient failures are retried", failures: []error{unavailable, unavailable}, wantCalls: 3, wantTime: 3 * time.Second},
		{name: "a permanent failure stops at once", failures: []error{notFound}, wantCalls: 1, wantErr: playbook.ErrNotFound},
		{name: "success needs no retry", wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
					n := calls.Add(1)
					if int(n) <= len(tt.failures) {
						return tt.failures[n-1]
					}
					c.Update(func(f *playbook.Facts) { f.Privilege = playbook.PrivilegeStandard })
					return nil
				})
				c := playbook.NewCase("r", playbook.Event{})
				start := time.Now()
				err := enrich.Retry(e, contain.RetryPolicy{InitialInterval: time.Second, NoJitter: true}).Enrich(t.Context(), c)
				assert.Equal(t, tt.wantCalls, calls.Load())
				assert.Equal(t, tt.wantTime, time.Since(start))
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					var re *contain.RetryError
					assert.True(t, errors.As(err, &re))
					return
				}
				require.NoError(t, err)
				assert.Equal(t, playbook.PrivilegeStandard, c.Facts.Privilege)
			})
		})
	}
}
