package playbook

import (
	"fmt"
	"maps"
	"slices"
)

// Response is what a decision asks the runner to do.
type Response string

// Responses, from the most to the least forceful.
const (
	// RespondContain runs the decision's steps at once.
	RespondContain Response = "contain"
	// RespondApprove asks for a verdict first; approved → contain,
	// denied or unanswered → escalate.
	RespondApprove Response = "approve"
	// RespondEscalate hands the case to people without touching the account.
	RespondEscalate Response = "escalate"
	// RespondMonitor notifies and keeps watching; no containment.
	RespondMonitor Response = "monitor"
	// RespondLog records the case; nothing else.
	RespondLog Response = "log"
)

// Valid reports whether r is one of the declared responses.
func (r Response) Valid() bool {
	switch r {
	case RespondContain, RespondApprove, RespondEscalate, RespondMonitor, RespondLog:
		return true
	}
	return false
}

// Step is one containment action the decision asks for.
type Step struct {
	// Action is the name of an action in Playbook.Actions.
	Action string `json:"action"`
	// Params are the action's parameters (for example "role" for
	// remove-role). Values are strings so that they journal and audit as
	// they are.
	Params map[string]string `json:"params,omitempty"`
}

// Decision is a policy's verdict on a case.
type Decision struct {
	// Response says what to do.
	Response Response `json:"response"`
	// Steps are the containment actions, run in order, for RespondContain
	// and RespondApprove. Other responses must carry none.
	Steps []Step `json:"steps,omitempty"`
	// Rule names the rule that produced the decision. Required: every
	// decision can be traced to a rule.
	Rule string `json:"rule"`
	// Reason explains the decision to people.
	Reason string `json:"reason,omitempty"`
	// Approval names the approval rule an approver should apply
	// ("security-leads-2of3"); empty means the approver's default.
	Approval string `json:"approval,omitempty"`
	// Notes carry what a policy decorator changed and why, in order
	// ("budget: 5 automatic containments in 1h0m0s, approval required").
	Notes []string `json:"notes,omitempty"`
}

// Validate checks the decision's own consistency: a valid response, a rule
// name, and steps only where the response runs steps.
func (d Decision) Validate() error {
	if !d.Response.Valid() {
		return fmt.Errorf("playbook: decision has unknown response %q", d.Response)
	}
	if d.Rule == "" {
		return fmt.Errorf("playbook: decision with response %q names no rule", d.Response)
	}
	switch d.Response {
	case RespondContain, RespondApprove:
		if len(d.Steps) == 0 {
			return fmt.Errorf("playbook: rule %q: response %q needs at least one step", d.Rule, d.Response)
		}
	default:
		if len(d.Steps) > 0 {
			return fmt.Errorf("playbook: rule %q: response %q must not carry steps", d.Rule, d.Response)
		}
	}
	for i, s := range d.Steps {
		if s.Action == "" {
			return fmt.Errorf("playbook: rule %q: step %d names no action", d.Rule, i)
		}
	}
	return nil
}

// Clone returns a deep copy of d.
func (d Decision) Clone() Decision {
	d.Steps = slices.Clone(d.Steps)
	for i := range d.Steps {
		d.Steps[i].Params = maps.Clone(d.Steps[i].Params)
	}
	d.Notes = slices.Clone(d.Notes)
	return d
}

// Outcome is how a run ended. Every accepted event ends in exactly one.
type Outcome string

// Terminal outcomes.
const (
	// OutcomeContained: every containment step succeeded (or was already
	// in effect).
	OutcomeContained Outcome = "contained"
	// OutcomeMonitoring: no containment; people were notified.
	OutcomeMonitoring Outcome = "monitoring"
	// OutcomeLogged: recorded only.
	OutcomeLogged Outcome = "logged"
	// OutcomeEscalated: handed to people — by decision, after a denied or
	// unanswered approval, or because something failed.
	OutcomeEscalated Outcome = "escalated"
	// OutcomeDryRun: the run would have contained; no provider write was made.
	OutcomeDryRun Outcome = "dry-run"
)
