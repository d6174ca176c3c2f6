package contain_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// outcome is what one call of a script does: wait for Delay (or until ctx
// ends, then return ctx.Err()), then return Result and Err.
type outcome struct {
	Delay  time.Duration
	Result playbook.ActionResult
	Err    error
}

// call is one recorded call of a script.
type call struct {
	At  time.Time
	Req playbook.ActionRequest
}

// script plays a list of outcomes, one per call; the last one repeats. It
// records every call with time.Now(), which synctest fakes.
type script struct {
	mu       sync.Mutex
	outcomes []outcome
	calls    []call
}

func (s *script) play(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	s.mu.Lock()
	s.calls = append(s.calls, call{At: time.Now(), Req: req})
	var o outcome
	if n := len(s.outcomes); n > 0 {
		o = s.outcomes[min(len(s.calls), n)-1]
	}
	s.mu.Unlock()
	if o.Delay > 0 {
		t := time.NewTimer(o.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return playbook.ActionResult{}, ctx.Err()
		}
	}
	return o.Result, o.Err
}

// Calls returns a copy of the recorded calls.
func (s *script) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// gaps returns the time between successive calls.
func gaps(calls []call) []time.Duration {
	var d []time.Duration
	for i := 1; i < len(calls); i++ {
		d = append(d, calls[i].At.Sub(calls[i-1].At))
	}
	return d
}

// scriptedAction is an action whose Execute plays a script. It has neither
// Plan nor Undo.
type scriptedAction struct {
	name string
	exec script
}

func newScripted(name string, outcomes ...outcome) *scriptedAction {
	return &scriptedAction{name: name, exec: script{outcomes: outcomes}}
}

func (a *scriptedAction) Name() string { return a.name }
func (a *scriptedAction) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.exec.play(ctx, req)
}

// reversibleAction is a scripted action that can also plan and undo; its
// Undo plays its own script and records the done result it was given.
type reversibleAction struct {
	scriptedAction
	undo  script
	plans script

	mu   sync.Mutex
	done []playbook.ActionResult
}

func newReversible(name string, undo ...outcome) *reversibleAction {
	return &reversibleAction{
		scriptedAction: scriptedAction{name: name, exec: script{outcomes: []outcome{{Result: applied}}}},
		undo:           script{outcomes: undo},
		plans:          script{outcomes: []outcome{{Result: playbook.ActionResult{Status: playbook.StatusDryRun}}}},
	}
}

func (a *reversibleAction) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return a.plans.play(ctx, req)
}

func (a *reversibleAction) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	a.mu.Lock()
	a.done = append(a.done, done)
	a.mu.Unlock()
	return a.undo.play(ctx, req)
}

var (
	applied = playbook.ActionResult{Status: playbook.StatusApplied, Detail: "disabled"}
	undone  = playbook.ActionResult{Status: playbook.StatusUndone, Detail: "enabled again"}

	errUnavailable = &playbook.ProviderError{Provider: "fake", Op: "disable-user", Status: 503, Err: playbook.ErrUnavailable}
	errNotFound    = &playbook.ProviderError{Provider: "fake", Op: "disable-user", Status: 404, Err: playbook.ErrNotFound}
)

func throttled(after time.Duration) error {
	return &playbook.ProviderError{Provider: "fake", Op: "disable-user", Status: 429, RetryAfter: after, Err: playbook.ErrThrottled}
}

func request() playbook.ActionRequest {
	return playbook.ActionRequest{
		RunID:          "run-1",
		StepID:         "contain/0/disable-user",
		IdempotencyKey: "run-1/contain/0/disable-user",
		Subject:        playbook.Subject{ID: "u-1"},
		Params:         map[string]string{"reason": "risky sign-in"},
		Attempt:        1,
	}
}

func seconds(s ...float64) []time.Duration {
	d := make([]time.Duration, len(s))
	for i, v := range s {
		d[i] = time.Duration(v * float64(time.Second))
	}
	return d
}
