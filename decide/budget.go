package decide

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// RuleBudgetExceeded is the Decision.Rule of a containment that Budget
// turned into an approval request.
const RuleBudgetExceeded = "budget/exceeded"

// BudgetConfig bounds automatic containment.
type BudgetConfig struct {
	// Max is the number of automatic containments (RespondContain
	// decisions) allowed per Window. Required, at least 1.
	Max int
	// Window is the length of the sliding window. Required, positive.
	Window time.Duration
	// Approval, when set, names the approval rule of the approval requests
	// that replace over-budget containments.
	Approval string
}

// Budget returns a policy that decides with p and lets at most cfg.Max
// RespondContain decisions through per sliding cfg.Window, so that a flood
// of events (a detection bug, an attack on the detector, a mass
// compromise) becomes a queue of approval requests instead of a mass
// lockout. Beyond the budget a RespondContain decision becomes
// RespondApprove with the same steps, Rule RuleBudgetExceeded and a note
// naming the inner rule and the count. Decisions that are not
// RespondContain pass through and consume no budget, nor does an
// over-budget decision.
//
// Time comes only from c.Now: a containment decided at t counts against
// the decisions whose c.Now is before t+Window, including those whose
// c.Now is earlier than t (runs decided out of order are counted
// conservatively). No clock is read and nothing sleeps.
//
// The count lives in the returned value: it is per process and per Budget
// call, not shared between runners or restarts. A resumed or replayed run
// does not consume budget again, because the runner journals each run's
// decision and does not call Decide twice for a run once that decision is
// journaled. (A run interrupted between Decide and the journal write is
// decided again on resume and may count twice; the error is on the safe
// side: it can only turn a later containment into an approval request.)
//
// The returned policy is safe for concurrent use (a mutex guards the
// count) when p is, returns p's errors unchanged, implements
// playbook.ActionNamer when p does, and playbook.ApprovalNamer
// (cfg.Approval and the names p lists). Budget returns an error naming the
// field for a nil p, a Max below 1 or a Window that is not positive.
func Budget(p playbook.Policy, cfg BudgetConfig) (playbook.Policy, error) {
	switch {
	case p == nil:
		return nil, errors.New("decide: Budget: policy is nil")
	case cfg.Max < 1:
		return nil, fmt.Errorf("decide: BudgetConfig.Max is %d; it must be at least 1 (to forbid automatic containment, configure the policy to ask for approval)", cfg.Max)
	case cfg.Window <= 0:
		return nil, fmt.Errorf("decide: BudgetConfig.Window is %v; it must be positive", cfg.Window)
	}
	b := &budget{inner: p, max: cfg.Max, window: cfg.Window, approval: cfg.Approval,
		spent: make([]time.Time, 0, cfg.Max)}
	return withNames(b, p), nil
}

type budget struct {
	inner    playbook.Policy
	max      int
	window   time.Duration
	approval string

	mu    sync.Mutex
	spent []time.Time // c.Now of the containments let through; len ≤ max
}

func (b *budget) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	if err := checkCase(ctx, c); err != nil {
		return playbook.Decision{}, err
	}
	d, err := b.inner.Decide(ctx, c)
	if err != nil || d.Response != playbook.RespondContain {
		return d, err
	}
	if b.take(c.Now) {
		return d, nil
	}
	d = d.Clone()
	d.Notes = append(d.Notes, fmt.Sprintf("budget: %d automatic containments in the last %v (max %d); rule %q asked for contain, approval required",
		b.max, b.window, b.max, d.Rule))
	d.Response = playbook.RespondApprove
	d.Rule = RuleBudgetExceeded
	d.Reason = fmt.Sprintf("containment budget of %d per %v exhausted: containment after approval", b.max, b.window)
	if b.approval != "" {
		d.Approval = b.approval
	}
	return d, nil
}

// take records a containment at now if the window has room.
func (b *budget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	cutoff := now.Add(-b.window)
	kept := b.spent[:0]
	for _, t := range b.spent {
		if t.After(cutoff) {
			kept = append(kept, t)
		}
	}
	b.spent = kept
	if len(b.spent) >= b.max {
		return false
	}
	b.spent = append(b.spent, now)
	return true
}
