package fake

import (
	"maps"
	"slices"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Operation names of the enrichers' reads. Actions use their action name
// for Execute (playbook.ActionDisableUser, ...), and PlanOp and UndoOp of
// it for Plan and Undo. Faults and the call log use these names.
const (
	OpGetUser   = "get-user"
	OpListRoles = "list-role-assignments"
	OpListGroup = "list-group-memberships"
	OpSignIns   = "list-sign-ins"
	OpSessions  = "list-sessions"
	OpGetRisk   = "get-risk"
)

// PlanOp returns the operation name of the dry-run Plan of action.
func PlanOp(action string) string { return action + "/plan" }

// UndoOp returns the operation name of the Undo of action.
func UndoOp(action string) string { return action + "/undo" }

// Call is one call of the provider's API, as the call log records it.
type Call struct {
	// Op is the operation name.
	Op string
	// Subject is the account the call was about.
	Subject playbook.Subject
	// Params are the action's parameters (a copy); nil for reads.
	Params map[string]string
	// IdempotencyKey and Attempt come from the action request; empty for
	// reads.
	IdempotencyKey string
	Attempt        int
	// Status is what the action reported; empty for reads and failures.
	Status playbook.ActionStatus
	// Write is true when the call changed the directory.
	Write bool
	// Err is the error the call returned.
	Err error
	// Time is when the call finished, from the provider's clock.
	Time time.Time
}

type opCount struct{ calls, writes int }

func (p *Provider) recordLocked(c Call) {
	n, ok := p.counts[c.Op]
	if !ok {
		n = &opCount{}
		p.counts[c.Op] = n
	}
	n.calls++
	if c.Write {
		n.writes++
	}
	if p.noCalls {
		return
	}
	c.Time = p.now()
	c.Params = maps.Clone(c.Params)
	p.calls = append(p.calls, c)
}

func (p *Provider) record(c Call) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.recordLocked(c)
}

// Calls returns a copy of the call log, oldest first; nil when the log is
// disabled (WithoutCallLog).
func (p *Provider) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.calls)
	for i := range out {
		out[i].Params = maps.Clone(out[i].Params)
	}
	return out
}

// Writes returns the calls that changed the directory, oldest first.
func (p *Provider) Writes() []Call {
	var out []Call
	for _, c := range p.Calls() {
		if c.Write {
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns the number of calls of op, or of every operation for
// AnyOp. It counts even when the call log is disabled.
func (p *Provider) CallCount(op string) int {
	return p.count(op, func(c *opCount) int { return c.calls })
}

// WriteCount returns the number of calls of op (or of every operation, for
// AnyOp) that changed the directory.
func (p *Provider) WriteCount(op string) int {
	return p.count(op, func(c *opCount) int { return c.writes })
}

func (p *Provider) count(op string, f func(*opCount) int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if op != AnyOp {
		if c, ok := p.counts[op]; ok {
			return f(c)
		}
		return 0
	}
	n := 0
	for _, c := range p.counts {
		n += f(c)
	}
	return n
}

// ResetCalls empties the call log and the counts.
func (p *Provider) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = nil
	clear(p.counts)
}
