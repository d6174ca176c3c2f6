package playbook_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
)

func TestScheduleSweeps(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var mu sync.Mutex
		var sweeps []time.Duration
		var errs []error
		failNext := false
		sched := playbook.Schedule{
			Interval: time.Hour,
			Sweep: func(ctx context.Context, now time.Time) ([]playbook.Event, error) {
				mu.Lock()
				defer mu.Unlock()
				sweeps = append(sweeps, now.Sub(start))
				if failNext {
					failNext = false
					return nil, errors.New("directory unreachable")
				}
				day := now.Sub(start) / (24 * time.Hour)
				return []playbook.Event{
					{ID: fmt.Sprint("orphan/u1/", day), Type: playbook.EventOrphanedAccount, Subject: playbook.Subject{ID: "u1"}},
					{ID: "bad", Type: "nope", Subject: playbook.Subject{ID: "u2"}},
				}, nil
			},
			OnError: func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() },
		}
		rec := &recorder{}
		pb := basePlaybook(rec)
		pb.Triggers = []playbook.Trigger{sched}
		h := playbooktest.New(t, pb)
		h.Settle()
		h.Advance(time.Hour)
		mu.Lock()
		failNext = true
		mu.Unlock()
		h.Advance(time.Hour)

		mu.Lock()
		defer mu.Unlock()
		assert.Equal(t, []time.Duration{0, time.Hour, 2 * time.Hour}, sweeps, "a sweep at once, then every interval")
		runs, err := h.Store.ListRuns(t.Context(), playbook.RunFilter{})
		require.NoError(t, err)
		assert.Len(t, runs, 1, "a standing finding starts one run, not one per sweep")
		assert.Len(t, h.Records(audit.TypeEventDuplicate), 1)
		require.Len(t, errs, 3, "two refused findings and one failed sweep, all reported")
		assert.ErrorIs(t, errs[0], playbook.ErrUnknownEventType)
		assert.ErrorContains(t, errs[2], "directory unreachable")
	})
}

func TestScheduleRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	sweep := func(context.Context, time.Time) ([]playbook.Event, error) { return nil, nil }
	emit := func(context.Context, playbook.Event) error { return nil }
	for name, s := range map[string]playbook.Schedule{
		"Sweep is required":   {Interval: time.Hour, OnError: func(error) {}},
		"OnError is required": {Interval: time.Hour, Sweep: sweep},
		"below one second":    {Interval: time.Millisecond, Sweep: sweep, OnError: func(error) {}},
	} {
		require.ErrorContains(t, s.Run(t.Context(), emit), name)
	}
}
