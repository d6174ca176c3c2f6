package playbook

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// DefaultApprovalTimeout is how long a request waits for a verdict when
// Playbook.ApprovalTimeout is zero.
const DefaultApprovalTimeout = 4 * time.Hour

// Playbook is the definition of a response: where events come from, how a
// case is enriched and decided, which actions contain, who approves and
// where the trail goes. It is a plain value; both engines run the same one.
// A Playbook must not be modified once a runner uses it.
type Playbook struct {
	// Name identifies the playbook in logs, tickets and audit records.
	// Required.
	Name string
	// Triggers produce events. Optional: events may also arrive through
	// Runner.Handle.
	Triggers []Trigger
	// Enricher gathers facts; compose several with package enrich.
	// Optional.
	Enricher Enricher
	// Policy decides. Required.
	Policy Policy
	// Actions are the containment actions by name. Every action a policy
	// can name must be here; the map key must equal the action's Name.
	Actions map[string]Action
	// Approver is notified of approval requests. Required when the policy
	// can ask for approval; a nil Approver still lets verdicts arrive
	// through Runner.Submit, but nobody is told to give one.
	Approver Approver
	// ApprovalRule decides, beyond the runner's own checks, whose verdicts
	// count and when the votes settle a request (eligibility, quorum).
	// Nil means the Approver's own rule when it implements
	// VerdictEvaluator, else the first admissible verdict decides.
	ApprovalRule VerdictEvaluator
	// ApprovalTimeout bounds the wait for a verdict; the request is then
	// denied and the run escalated. Zero means DefaultApprovalTimeout. An
	// ApprovalRule that is an ApprovalScheduler sets its own deadline per
	// decision, which takes precedence.
	ApprovalTimeout time.Duration
	// Audit receives the trail. At least one sink is required; a nil sink
	// is an error. Records go to every sink; a failing sink stops the run.
	Audit []AuditSink
	// Ticketer opens a ticket for every run that escalates, waits for
	// approval or contains someone. Optional.
	Ticketer audit.Ticketer
	// DryRun runs everything but the providers' write calls: actions are
	// planned (see Planner), approvers are not notified, and the audit says
	// what would have been done. Such runs end in OutcomeDryRun instead of
	// OutcomeContained.
	DryRun bool
	// ExtraEventTypes lists event types, beyond the built-in ones, that the
	// playbook accepts.
	ExtraEventTypes []EventType
}

// ErrInvalidPlaybook is wrapped by every error Validate returns.
var ErrInvalidPlaybook = errors.New("invalid playbook")

// Validate checks that the playbook is complete and consistent, and names
// the first field at fault.
func (p *Playbook) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidPlaybook, p.Name, fmt.Sprintf(format, args...))
	}
	if p.Name == "" {
		return fmt.Errorf("%w: Name is required", ErrInvalidPlaybook)
	}
	if p.Policy == nil {
		return bad("Policy is required")
	}
	if len(p.Audit) == 0 {
		return bad("Audit needs at least one sink")
	}
	for i, s := range p.Audit {
		if s == nil {
			return bad("Audit[%d] is nil", i)
		}
	}
	for i, t := range p.Triggers {
		if t == nil {
			return bad("Triggers[%d] is nil", i)
		}
	}
	for name, a := range p.Actions {
		if a == nil {
			return bad("Actions[%q] is nil", name)
		}
		if a.Name() != name {
			return bad("Actions[%q] is an action named %q", name, a.Name())
		}
	}
	if p.ApprovalTimeout < 0 {
		return bad("ApprovalTimeout is negative")
	}
	for _, t := range p.ExtraEventTypes {
		if t == "" {
			return bad("ExtraEventTypes holds an empty type")
		}
	}
	if err := p.validateApproval(); err != nil {
		return fmt.Errorf("%w %q: %w", ErrInvalidPlaybook, p.Name, err)
	}
	if n, ok := p.Policy.(ActionNamer); ok {
		names := n.ActionNames()
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			if _, ok := p.Actions[name]; !ok {
				return bad("Policy names action %q, which Actions does not have", name)
			}
		}
	}
	return nil
}

func (p *Playbook) approvalTimeout() time.Duration {
	if p.ApprovalTimeout == 0 {
		return DefaultApprovalTimeout
	}
	return p.ApprovalTimeout
}
