package playbooktest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
)

func TestClockTimers(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := playbooktest.NewClock(start)
	a, b, stopped := c.NewTimer(time.Minute), c.NewTimer(time.Hour), c.NewTimer(time.Minute)
	assert.True(t, stopped.Stop())
	c.Advance(time.Minute)
	select {
	case at := <-a.C():
		assert.Equal(t, start.Add(time.Minute), at)
	default:
		t.Fatal("a due timer did not fire")
	}
	select {
	case <-b.C():
		t.Fatal("a timer fired early")
	case <-stopped.C():
		t.Fatal("a stopped timer fired")
	default:
	}
	assert.False(t, a.Stop(), "a fired timer reports false")
	assert.Equal(t, start.Add(time.Minute), c.Now())
}

// The runner takes its time from Options.Clock: a manual clock expires an
// approval exactly when it passes the deadline, with no synctest bubble.
func TestRunnerUsesInjectedClock(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	clock := playbooktest.NewClock(start)
	act := playbook.ActionFunc("disable-user", func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondApprove, Rule: "ask", Steps: []playbook.Step{{Action: "disable-user"}}}, nil
	})
	h := playbooktest.New(t, playbook.Playbook{Name: "clock", Policy: policy, ApprovalTimeout: 30 * time.Minute,
		Actions: map[string]playbook.Action{"disable-user": act}}, playbooktest.Options{Runner: playbook.Options{Clock: clock}})
	id := h.Fire(playbook.Event{ID: "e", Type: playbook.EventRiskyUser, Subject: playbook.Subject{ID: "u"}})
	h.Settle()
	req := h.RequireWaiting(id)
	assert.Equal(t, start.Add(30*time.Minute), req.Deadline, "the deadline is computed from the injected clock")

	clock.Advance(29 * time.Minute)
	h.Settle()
	h.RequireWaiting(id)

	clock.Advance(time.Minute)
	// The deadline watcher runs on its own goroutine: poll for it, nudging
	// the clock a second at a time in case it armed its timer just before
	// the jump.
	require.Eventually(t, func() bool {
		if h.Run(id).State == playbook.RunDone {
			return true
		}
		clock.Advance(time.Second)
		return false
	}, 10*time.Second, time.Millisecond)
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeEscalated)
	exp := h.Records(audit.TypeApprovalExpired)
	require.Len(t, exp, 1)
	assert.False(t, exp[0].Time.Before(req.Deadline), "never expired before the deadline")
	assert.WithinDuration(t, req.Deadline, exp[0].Time, 10*time.Second)
}
