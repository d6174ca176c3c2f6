package audit

import (
	"context"
	"time"
)

// Type names what a Record describes. The runner writes the types declared
// below; hosts may add their own (use a dotted prefix of their own, such as
// "acme.sync").
type Type string

// The record types the runner writes, in the order a run produces them.
const (
	// TypeEventReceived is written when an event is accepted and a run starts.
	TypeEventReceived Type = "event.received"
	// TypeEventRejected is written when an event is refused (malformed, no
	// subject, unknown type). No run is started; Error says why.
	TypeEventRejected Type = "event.rejected"
	// TypeEventDuplicate is written when an event id was already seen inside
	// the de-duplication window. No run is started.
	TypeEventDuplicate Type = "event.duplicate"
	// TypeEnrichment carries the facts gathered about the subject, including
	// which optional enrichers failed.
	TypeEnrichment Type = "enrichment"
	// TypeDecision carries the policy's decision and the rule that made it.
	TypeDecision Type = "decision"
	// TypeApprovalRequested is written when a run starts waiting for a verdict.
	TypeApprovalRequested Type = "approval.requested"
	// TypeVerdict records an accepted verdict: who, when, why, which channel.
	TypeVerdict Type = "approval.verdict"
	// TypeVerdictRejected records a verdict that was refused (self-approval,
	// after the deadline, unknown approval, already decided).
	TypeVerdictRejected Type = "approval.verdict_rejected"
	// TypeApprovalExpired is written when a deadline passes without a verdict.
	TypeApprovalExpired Type = "approval.expired"
	// TypeApprovalNotice records a reminder or an escalation sent (or that
	// failed to send) while a request waits; Outcome is the notice kind,
	// with "-failed" appended when delivery failed.
	TypeApprovalNotice Type = "approval.notice"
	// TypeActionIntent is written before a containment step touches the
	// provider. No step runs without it.
	TypeActionIntent Type = "action.intent"
	// TypeActionResult is written after a containment step, whatever its fate.
	TypeActionResult Type = "action.result"
	// TypeTicket records that a ticket was opened, updated or closed.
	TypeTicket Type = "ticket"
	// TypeRunResolved closes a run with its terminal outcome.
	TypeRunResolved Type = "run.resolved"
	// TypeRunUndone records that an operator reversed a finished run's
	// containment (each step's undo has its own intent and result).
	TypeRunUndone Type = "run.undone"
	// TypeLogRepaired is written by OpenJSONL with
	// JSONLOptions.RepairTornTail when it cut an incomplete last line
	// (left by a crash mid-write) off the log; Data says how many bytes
	// and where they were saved.
	TypeLogRepaired Type = "audit.repaired"
)

// Record is one entry of the audit trail. It is a plain value: sinks may keep
// it, but must not modify Data in place (copy it first).
//
// Seq, Prev and Hash are set by chaining sinks (see JSONL) and are empty on
// the records the runner hands to sinks.
type Record struct {
	// Time is when the recorded fact happened, in UTC.
	Time time.Time `json:"time"`
	// Type says what the record describes.
	Type Type `json:"type"`
	// RunID is the run the record belongs to; empty for records about events
	// that never became a run (rejected or duplicate).
	RunID string `json:"run_id,omitempty"`
	// EventID is the id of the triggering event.
	EventID string `json:"event_id,omitempty"`
	// Subject is the key of the identity the run is about (provider:id).
	Subject string `json:"subject,omitempty"`
	// Actor is who caused this record: "system" for the runner, an
	// approver's identity for a verdict.
	Actor string `json:"actor,omitempty"`
	// Step is the deterministic id of the step (for action records).
	Step string `json:"step,omitempty"`
	// Action is the action name for action records.
	Action string `json:"action,omitempty"`
	// IdempotencyKey is the key handed to the provider for action records.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	// Rule names the policy rule behind a decision.
	Rule string `json:"rule,omitempty"`
	// Outcome is a decision's response, an action's status or a run's
	// terminal outcome, depending on Type.
	Outcome string `json:"outcome,omitempty"`
	// Error says what went wrong, if anything did.
	Error string `json:"error,omitempty"`
	// Data carries the evidence: enrichment facts, decision details, request
	// parameters, provider responses. Values must be JSON-encodable.
	// Secrets are removed by Redact before a record reaches any sink.
	Data map[string]any `json:"data,omitempty"`

	// Seq is the position of the record in a chained log, from 1.
	Seq uint64 `json:"seq,omitempty"`
	// Prev is the hash of the previous record in a chained log.
	Prev string `json:"prev,omitempty"`
	// Hash is the SHA-256 (or HMAC-SHA256) of this record chained to Prev.
	Hash string `json:"hash,omitempty"`
}

// Sink receives audit records.
//
// Record must be safe for concurrent use. It returns only after the record is
// stored as durably as the sink promises; an error means the record may not
// be stored, and the runner then stops the run (fail closed). Record must not
// retain ctx. Cancelling ctx may abandon the write and return ctx.Err().
//
// playbook.AuditSink has the same method set: every Sink is an AuditSink.
type Sink interface {
	Record(ctx context.Context, r Record) error
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(ctx context.Context, r Record) error

// Record calls f(ctx, r).
func (f SinkFunc) Record(ctx context.Context, r Record) error { return f(ctx, r) }
