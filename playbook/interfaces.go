package playbook

import (
	"context"
	"encoding/json"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// Trigger produces events.
//
// Run emits events until ctx ends, then returns nil (or ctx.Err()); any other
// error means the trigger stopped on its own and is logged by the runner.
// Pull sources poll; push sources serve. emit blocks while the runner applies
// backpressure and returns an error when the event was refused (invalid,
// duplicate, runner closing): a trigger that keeps a cursor must advance it
// only past events for which emit returned nil or a duplicate/invalid error
// (see ErrDuplicate, ErrInvalidEvent), and keep others for redelivery.
// The runner calls Run once per runner start, from its own goroutine.
type Trigger interface {
	Run(ctx context.Context, emit func(context.Context, Event) error) error
}

// TriggerFunc adapts a function to a Trigger.
type TriggerFunc func(ctx context.Context, emit func(context.Context, Event) error) error

// Run calls f(ctx, emit).
func (f TriggerFunc) Run(ctx context.Context, emit func(context.Context, Event) error) error {
	return f(ctx, emit)
}

// Enricher gathers facts about a case's subject.
//
// Enrich reads c.Event and writes what it learns through c.Update or
// Key.Set; it may run concurrently with other enrichers on the same case and
// must not keep c after returning. It must only read from providers. A
// returned error is recorded on the case; whether it stops the run depends
// on how the enricher is composed (see package enrich). When ctx ends,
// Enrich should return ctx.Err() promptly.
type Enricher interface {
	Enrich(ctx context.Context, c *Case) error
}

// EnricherFunc adapts a function to an Enricher.
type EnricherFunc func(ctx context.Context, c *Case) error

// Enrich calls f(ctx, c).
func (f EnricherFunc) Enrich(ctx context.Context, c *Case) error { return f(ctx, c) }

// Policy turns an enriched case into a decision.
//
// Decide must be safe for concurrent use, must not modify c, and should
// depend only on c (reading time from c.Now) so that replaying a run's
// journal reproduces its decision. A returned error escalates the run.
type Policy interface {
	Decide(ctx context.Context, c *Case) (Decision, error)
}

// PolicyFunc adapts a function to a Policy.
type PolicyFunc func(ctx context.Context, c *Case) (Decision, error)

// Decide calls f(ctx, c).
func (f PolicyFunc) Decide(ctx context.Context, c *Case) (Decision, error) { return f(ctx, c) }

// ActionNamer is implemented by policies that can list every action name
// they may put in a decision. NewRunner uses it to reject a playbook whose
// policy names an action that Playbook.Actions lacks.
type ActionNamer interface {
	ActionNames() []string
}

// Well-known action names. Providers register their actions under these
// names so that policies work with any provider.
const (
	// ActionDisableUser disables (Entra) or suspends (Okta) the account.
	ActionDisableUser = "disable-user"
	// ActionRevokeSessions revokes the subject's sessions and refresh tokens.
	ActionRevokeSessions = "revoke-sessions"
	// ActionResetCredentials forces a password reset / expires the password.
	ActionResetCredentials = "reset-credentials"
	// ActionRemoveRole removes a role assignment; Params["role"] names it.
	ActionRemoveRole = "remove-role"
	// ActionRemoveGroupMember removes the subject from Params["group"].
	ActionRemoveGroupMember = "remove-group-member"
	// ActionConfirmCompromised marks the user compromised at the provider's
	// risk engine.
	ActionConfirmCompromised = "confirm-compromised"
)

// ActionRequest is one execution of a containment step.
type ActionRequest struct {
	// RunID and StepID identify the step; StepID is deterministic
	// ("contain/0/disable-user"), the same across retries and resumes.
	RunID  string
	StepID string
	// IdempotencyKey is derived from RunID and StepID. Providers that
	// accept one pass it on; others make the action idempotent by reading
	// state first. The same key must never produce the effect twice.
	IdempotencyKey string
	// Subject is the account to act on.
	Subject Subject
	// Params are the step's parameters from the decision.
	Params map[string]string
	// Attempt counts executions of this step, from 1 (retries and resumes
	// increase it).
	Attempt int
}

// ActionStatus says what an action did.
type ActionStatus string

// Action statuses.
const (
	// StatusApplied: the action changed the account.
	StatusApplied ActionStatus = "applied"
	// StatusAlreadyApplied: the account was already in the desired state;
	// success without a change.
	StatusAlreadyApplied ActionStatus = "already-applied"
	// StatusDryRun: dry-run; nothing was changed. Detail says what would
	// have been done.
	StatusDryRun ActionStatus = "dry-run"
	// StatusUndone: an undo restored the prior state.
	StatusUndone ActionStatus = "undone"
)

// ActionResult is what an action reports.
type ActionResult struct {
	// Status says what happened.
	Status ActionStatus `json:"status"`
	// Detail is a human-readable description of the effect.
	Detail string `json:"detail,omitempty"`
	// Prior is the state before the action, as the action needs it to
	// undo (for example the removed role assignment). Journaled.
	Prior json.RawMessage `json:"prior,omitempty"`
	// Response is the provider's response summary for the evidence trail,
	// free of secrets.
	Response map[string]any `json:"response,omitempty"`
}

// Action performs one containment step through a provider's API.
//
// Name returns the action's stable name. Execute must be safe for
// concurrent use and idempotent per req.IdempotencyKey: executing a request
// whose effect is already in place reports StatusAlreadyApplied. Errors
// should be, or wrap, the canonical errors (ErrNotFound, ErrThrottled, ...)
// so that Classify can tell retryable from permanent ones. When ctx ends
// mid-call, Execute returns ctx.Err(); the effect may or may not have
// happened, and the runner retries the step later with the same key.
type Action interface {
	Name() string
	Execute(ctx context.Context, req ActionRequest) (ActionResult, error)
}

// ActionFunc adapts a function to an Action with the given name.
func ActionFunc(name string, fn func(ctx context.Context, req ActionRequest) (ActionResult, error)) Action {
	return actionFunc{name: name, fn: fn}
}

type actionFunc struct {
	name string
	fn   func(ctx context.Context, req ActionRequest) (ActionResult, error)
}

func (a actionFunc) Name() string { return a.name }
func (a actionFunc) Execute(ctx context.Context, req ActionRequest) (ActionResult, error) {
	return a.fn(ctx, req)
}

// Planner is implemented by actions that can say what they would do without
// doing it. In dry-run mode the runner calls Plan instead of Execute; an
// action without Plan is recorded as "would run" without touching the
// provider. Plan must make no provider writes. It returns StatusDryRun, or
// StatusAlreadyApplied when the account is already in the desired state.
type Planner interface {
	Plan(ctx context.Context, req ActionRequest) (ActionResult, error)
}

// Undoer is implemented by actions that can be reversed. Undo restores the
// state recorded in done.Prior; undoing an action whose effect is already
// gone reports StatusAlreadyApplied.
type Undoer interface {
	Undo(ctx context.Context, req ActionRequest, done ActionResult) (ActionResult, error)
}

// Unwrapper is implemented by action decorators so that optional interfaces
// (Planner, Undoer) of the wrapped action can be found.
type Unwrapper interface {
	Unwrap() Action
}

// AsPlanner returns the Planner implemented by a or by an action it wraps.
func AsPlanner(a Action) (Planner, bool) { return findAs[Planner](a) }

// AsUndoer returns the Undoer implemented by a or by an action it wraps.
func AsUndoer(a Action) (Undoer, bool) { return findAs[Undoer](a) }

func findAs[T any](a Action) (T, bool) {
	for a != nil {
		if t, ok := a.(T); ok {
			return t, true
		}
		u, ok := a.(Unwrapper)
		if !ok {
			break
		}
		a = u.Unwrap()
	}
	var zero T
	return zero, false
}

// ApprovalRequest asks people to approve a decision.
type ApprovalRequest struct {
	// ID identifies the approval; deterministic per run.
	ID string `json:"id"`
	// RunID is the run waiting for the verdict.
	RunID string `json:"run_id"`
	// Subject is the account the containment would act on. The subject can
	// never approve.
	Subject Subject `json:"subject"`
	// Actor is who caused the event, if known; the actor can never approve.
	Actor string `json:"actor,omitempty"`
	// Identities are every name of the subject known when the request was
	// made: ids, logins and e-mail addresses from the event and the
	// enriched profile. None of them may approve.
	Identities []string `json:"identities,omitempty"`
	// Risk is the event's risk level.
	Risk RiskLevel `json:"risk"`
	// Decision is what will run if approved.
	Decision Decision `json:"decision"`
	// Summary is the human-readable case summary approvers see.
	Summary string `json:"summary"`
	// SummaryHash is the hex SHA-256 of Summary; verdicts carry it back
	// to prove which request the approver saw.
	SummaryHash string `json:"summary_hash"`
	// RequestedAt and Deadline bound the wait; at Deadline the request is
	// denied and the run escalated.
	RequestedAt time.Time `json:"requested_at"`
	Deadline    time.Time `json:"deadline"`
}

// Approver notifies people that a decision awaits their verdict.
//
// Request must be safe for concurrent use and should return quickly: it
// sends notifications, it does not wait for the verdict, which arrives later
// through Runner.Submit. Request may be called again for the same request
// ID (after a crash); it should not notify twice if it can tell. An error is
// recorded and the request still waits: the deadline then escalates it.
type Approver interface {
	Request(ctx context.Context, r ApprovalRequest) error
}

// ApproverFunc adapts a function to an Approver.
type ApproverFunc func(ctx context.Context, r ApprovalRequest) error

// Request calls f(ctx, r).
func (f ApproverFunc) Request(ctx context.Context, r ApprovalRequest) error { return f(ctx, r) }

// Verdict is one person's answer to an approval request.
type Verdict struct {
	// ApprovalID is the ApprovalRequest.ID answered.
	ApprovalID string `json:"approval_id"`
	// Approver is the identity, as the channel authenticated it.
	Approver string `json:"approver"`
	// Approve is true to approve, false to deny.
	Approve bool `json:"approve"`
	// Reason is the approver's justification.
	Reason string `json:"reason,omitempty"`
	// Channel names how the verdict arrived ("web", "slack", "cli", "api").
	Channel string `json:"channel"`
	// SummaryHash is the ApprovalRequest.SummaryHash the approver saw;
	// when set it must match the request's.
	SummaryHash string `json:"summary_hash,omitempty"`
	// At is when the verdict was given; set by the runner on receipt.
	At time.Time `json:"at"`
}

// VerdictEvaluator is implemented by approvers that apply approval rules
// beyond the runner's own (which always refuses self-approval, double votes
// and late verdicts). Evaluate sees the request, the verdicts already
// accepted and the new one; it returns an error (wrapping a reason the
// approver can be shown) to refuse the verdict, or the request's status
// once the verdict is counted: ApprovalPending while a quorum is not yet
// reached, ApprovalApproved or ApprovalDenied when it is settled. It must
// be safe for concurrent use and must not block.
type VerdictEvaluator interface {
	Evaluate(req ApprovalRequest, prior []Verdict, v Verdict) (ApprovalStatus, error)
}

// AuditSink receives the audit trail. It has the method set of audit.Sink;
// see there for the contract. An error stops the run (fail closed).
type AuditSink interface {
	Record(ctx context.Context, r audit.Record) error
}

var _ AuditSink = audit.Sink(nil)

// AuditSinkFunc adapts a function to an AuditSink (it is audit.SinkFunc).
type AuditSinkFunc = audit.SinkFunc

// ApprovalFollower is implemented by approvers that want to hear what
// became of the requests they sent (to update a chat message with the
// outcome and who decided, to send a reminder, to page the next tier).
// The runner calls Follow for the notices its playbook produces; it may
// call it again for the same notice after a crash, so Follow should be
// idempotent. Follow must be safe for concurrent use and should return
// quickly; an error is logged and does not change the run.
type ApprovalFollower interface {
	Follow(ctx context.Context, n ApprovalNotice) error
}

// NoticeKind says what an ApprovalNotice announces.
type NoticeKind string

// Notice kinds.
const (
	// NoticeSettled: the request was approved, denied or expired; Status
	// and Verdicts say how.
	NoticeSettled NoticeKind = "settled"
	// NoticeReminder: the request is still pending; remind the approvers.
	NoticeReminder NoticeKind = "reminder"
	// NoticeEscalation: the request is still pending; notify the next
	// tier of approvers (Tier says which, from 1).
	NoticeEscalation NoticeKind = "escalation"
)

// ApprovalNotice is one thing that happened to an approval request.
type ApprovalNotice struct {
	Kind     NoticeKind      `json:"kind"`
	Request  ApprovalRequest `json:"request"`
	Status   ApprovalStatus  `json:"status"`
	Verdicts []Verdict       `json:"verdicts,omitempty"`
	// Tier is the escalation tier for NoticeEscalation, from 1.
	Tier int `json:"tier,omitempty"`
	// At is when the notice was produced.
	At time.Time `json:"at"`
}
