package playbook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"time"
)

// RunState is where a run stands.
type RunState string

// Run states. A run moves pending → running → (waiting → running)* → done.
const (
	// RunPending: accepted and journaled, not started yet.
	RunPending RunState = "pending"
	// RunRunning: a runner is executing its steps, or was when it stopped;
	// a restarted runner resumes it.
	RunRunning RunState = "running"
	// RunWaiting: waiting for an approval verdict; no goroutine holds it.
	RunWaiting RunState = "waiting"
	// RunDone: finished with a terminal Outcome.
	RunDone RunState = "done"
)

// ApprovalStatus is where an approval request stands.
type ApprovalStatus string

// Approval statuses.
const (
	ApprovalPending  ApprovalStatus = "pending"
	ApprovalApproved ApprovalStatus = "approved"
	ApprovalDenied   ApprovalStatus = "denied"
	// ApprovalExpired: the deadline passed without a decisive verdict; it
	// counts as a denial.
	ApprovalExpired ApprovalStatus = "expired"
)

// Approval is a run's approval request and the verdicts it received.
type Approval struct {
	Request  ApprovalRequest `json:"request"`
	Status   ApprovalStatus  `json:"status"`
	Verdicts []Verdict       `json:"verdicts,omitempty"`
	// DecidedAt is when Status left pending.
	DecidedAt time.Time `json:"decided_at,omitzero"`
	// Notices are the reminders and escalations the runner sent (or
	// began to send) for the request, so that a restarted runner does
	// not send them again. See ApprovalScheduler.
	Notices []NoticeRecord `json:"notices,omitempty"`
}

// Run is the persisted state of one run.
type Run struct {
	ID    string `json:"id"`
	Event Event  `json:"event"`
	// Subject is Event.Subject.Key(), kept for listing.
	Subject string   `json:"subject"`
	State   RunState `json:"state"`
	// Outcome is set when State is RunDone.
	Outcome Outcome `json:"outcome,omitempty"`
	// DryRun records whether the run executes in dry-run mode.
	DryRun bool `json:"dry_run,omitempty"`
	// Decision is the policy's decision, once made.
	Decision *Decision `json:"decision,omitempty"`
	// Approval is set when the decision required one.
	Approval *Approval `json:"approval,omitempty"`
	// Undo is set once an operator reversed the run's containment.
	Undo *UndoRecord `json:"undo,omitempty"`
	// Ticket is the reference of the run's ticket, once opened.
	Ticket string `json:"ticket,omitempty"`
	// Error says why the run escalated because of a failure.
	Error     string    `json:"error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// Version is the store's revision of this run, for compare-and-swap.
	Version int64 `json:"version"`
}

// UndoRecord says who reversed a run's containment, when and why.
type UndoRecord struct {
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// Complete is false when some step could not be undone.
	Complete bool `json:"complete"`
}

// Clone returns a deep copy of r, the event's attributes and raw payload
// included.
func (r Run) Clone() Run {
	if r.Event.Attributes != nil {
		r.Event.Attributes = maps.Clone(r.Event.Attributes)
	}
	r.Event.Raw = bytes.Clone(r.Event.Raw)
	if r.Undo != nil {
		u := *r.Undo
		r.Undo = &u
	}
	if r.Decision != nil {
		d := r.Decision.Clone()
		r.Decision = &d
	}
	if r.Approval != nil {
		a := *r.Approval
		a.Request.Decision = a.Request.Decision.Clone()
		a.Request.Identities = slices.Clone(a.Request.Identities)
		a.Verdicts = slices.Clone(a.Verdicts)
		a.Notices = slices.Clone(a.Notices)
		r.Approval = &a
	}
	return r
}

// StepKind says which stage a journaled step belongs to.
type StepKind string

// Step kinds.
const (
	StepEnrich StepKind = "enrich"
	StepDecide StepKind = "decide"
	StepAction StepKind = "action"
	// StepUndo reverses a StepAction; its id is "undo/" + the action's.
	StepUndo StepKind = "undo"
)

// StepStatus is where a journaled step stands.
type StepStatus string

// Step statuses. A step that is StepStarted when a runner starts was
// interrupted: it is executed again with the same idempotency key.
const (
	StepStarted StepStatus = "started"
	StepDone    StepStatus = "done"
	StepFailed  StepStatus = "failed"
)

// StepRecord is one entry of a run's journal.
type StepRecord struct {
	RunID  string   `json:"run_id"`
	StepID string   `json:"step_id"`
	Kind   StepKind `json:"kind"`
	// Action is the action name for StepAction.
	Action         string     `json:"action,omitempty"`
	Status         StepStatus `json:"status"`
	IdempotencyKey string     `json:"idempotency_key,omitempty"`
	// Attempt counts how many times the step was started.
	Attempt int `json:"attempt"`
	// Result is the step's output: the facts for StepEnrich, the decision
	// for StepDecide, the ActionResult for StepAction.
	Result    json.RawMessage `json:"result,omitempty"`
	Error     string          `json:"error,omitempty"`
	StartedAt time.Time       `json:"started_at"`
	EndedAt   time.Time       `json:"ended_at,omitzero"`
}

// RunFilter selects runs for Store.ListRuns. Zero fields match everything.
type RunFilter struct {
	State   RunState
	Subject string
	// Limit caps the number of runs returned; 0 means no cap.
	Limit int
}

// Store errors.
var (
	// ErrRunNotFound: no run has the given id.
	ErrRunNotFound = errors.New("run not found")
	// ErrRunExists: CreateRun with an id already stored.
	ErrRunExists = errors.New("run already exists")
	// ErrVersionConflict: UpdateRun lost a compare-and-swap race; re-read
	// the run and try again.
	ErrVersionConflict = errors.New("run was updated concurrently")
)

// Store persists runs, their step journal and the event de-duplication
// keys, so that a runner can resume after a crash.
//
// Implementations must be safe for concurrent use and must not retain or
// modify the values passed in or returned (copy them). A method returns only
// once its write is as durable as the store promises. Cancelling ctx may
// abandon a call and return ctx.Err(). Times keep nanosecond precision,
// and Event.Raw and StepRecord.Result round-trip byte for byte. The
// conformance suite in store/storetest checks every rule stated here.
type Store interface {
	// CreateRun stores a new run with Version 1. It returns ErrRunExists if
	// the id is taken.
	CreateRun(ctx context.Context, r Run) error
	// UpdateRun replaces the stored run if its Version equals r.Version,
	// and returns the stored run with Version incremented; otherwise it
	// returns ErrVersionConflict (or ErrRunNotFound).
	UpdateRun(ctx context.Context, r Run) (Run, error)
	// GetRun returns the run or ErrRunNotFound.
	GetRun(ctx context.Context, id string) (Run, error)
	// ListRuns returns the runs matching f, oldest CreatedAt first, ties
	// in creation order.
	ListRuns(ctx context.Context, f RunFilter) ([]Run, error)
	// PutStep inserts or replaces the journal entry (RunID, StepID); it
	// returns ErrRunNotFound for a run that was never created.
	PutStep(ctx context.Context, s StepRecord) error
	// Steps returns a run's journal in the order the steps were first put;
	// an unknown run has an empty journal, not an error.
	Steps(ctx context.Context, runID string) ([]StepRecord, error)
	// ClaimEvent records that event key belongs to run runID until expires.
	// If the key is already held by an unexpired claim (now before its
	// expiry), it returns that claim's run id and false and changes
	// nothing; otherwise it takes the claim and returns runID and true.
	// Expired claims may be discarded at any time.
	ClaimEvent(ctx context.Context, key, runID string, now, expires time.Time) (owner string, claimed bool, err error)
}
