package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// Submit records a verdict on a waiting approval and continues the run: an
// approving verdict lets the containment run, a denying one escalates the
// run. It is how every approval channel (web, chat, CLI, tests) delivers an
// answer; the channel is responsible for authenticating v.Approver.
//
// Submit refuses, audits and returns an error for: an unknown approval
// (ErrApprovalNotFound), an approval already decided or expired
// (ErrApprovalClosed), a verdict at or after the deadline
// (ErrApprovalExpired; the approval is then expired and the run escalated),
// the case's subject or the event's actor approving (ErrSelfApproval), and
// an incomplete verdict or one naming a summary the request did not show
// (ErrInvalidVerdict). The verdict's time is set from the runner's clock.
//
// Then the playbook's ApprovalRule (or an Approver that implements
// VerdictEvaluator) decides whether the verdict is admissible and whether
// the votes so far settle the request (quorum); without one, the first
// admissible verdict decides.
//
// Every refusal is returned as a *VerdictRefusedError wrapping the reason.
//
// Submit may be called whether or not Run is running; the run continues as
// soon as a runner executes it.
func (r *Runner) Submit(ctx context.Context, v Verdict) error {
	return r.submit(ctx, v, time.Time{})
}

// submit records v as given at at, or now when at is zero or in the
// future (a verdict from an inbox keeps the time it was given).
func (r *Runner) submit(ctx context.Context, v Verdict, at time.Time) error {
	now := r.clock.Now().UTC()
	if at.IsZero() || at.After(now) {
		at = now
	}
	v.At = at.UTC()
	r.approvalMu.Lock()
	defer r.approvalMu.Unlock()

	runID, ok := runIDFromApproval(v.ApprovalID)
	if !ok {
		return r.rejectVerdict(ctx, Run{}, v, fmt.Errorf("%w: %q", ErrApprovalNotFound, v.ApprovalID))
	}
	run, err := r.store.GetRun(ctx, runID)
	if errors.Is(err, ErrRunNotFound) || (err == nil && run.Approval == nil) {
		return r.rejectVerdict(ctx, Run{}, v, fmt.Errorf("%w: %q", ErrApprovalNotFound, v.ApprovalID))
	}
	if err != nil {
		return fmt.Errorf("playbook: loading approval %q: %w", v.ApprovalID, err)
	}
	a := run.Approval
	switch {
	case strings.TrimSpace(v.Approver) == "":
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: the verdict names no approver", ErrInvalidVerdict))
	case strings.TrimSpace(v.Channel) == "":
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: the verdict names no channel", ErrInvalidVerdict))
	case a.Status != ApprovalPending:
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: %q is %s", ErrApprovalClosed, v.ApprovalID, a.Status))
	case !v.At.Before(a.Request.Deadline):
		rerr := r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: deadline was %s", ErrApprovalExpired, a.Request.Deadline.Format("2006-01-02T15:04:05Z07:00")))
		if err := r.expireLocked(ctx, runID); err != nil {
			return errors.Join(rerr, err)
		}
		return rerr
	case run.Event.Subject.Matches(v.Approver) || slices.ContainsFunc(a.Request.Identities, func(id string) bool {
		return strings.EqualFold(id, strings.TrimSpace(v.Approver))
	}):
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: %q is the subject of the case", ErrSelfApproval, v.Approver))
	case run.Event.Actor != "" && strings.EqualFold(strings.TrimSpace(run.Event.Actor), strings.TrimSpace(v.Approver)):
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: %q caused the event", ErrSelfApproval, v.Approver))
	case v.SummaryHash != "" && v.SummaryHash != a.Request.SummaryHash:
		return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: the approver saw a different case summary", ErrInvalidVerdict))
	}

	for _, prior := range a.Verdicts {
		if strings.EqualFold(prior.Approver, v.Approver) {
			return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: %q has already voted", ErrInvalidVerdict, v.Approver))
		}
	}
	status := ApprovalDenied
	if v.Approve {
		status = ApprovalApproved
	}
	if ev := r.approvalRule(); ev != nil {
		var err error
		if serr := safeCall("approval evaluation", func() error {
			status, err = ev.Evaluate(a.Request, a.Verdicts, v)
			return nil
		}); serr != nil {
			err = serr
		}
		if err != nil {
			return r.rejectVerdict(ctx, run, v, err)
		}
		if status != ApprovalPending && status != ApprovalApproved && status != ApprovalDenied {
			return r.rejectVerdict(ctx, run, v, fmt.Errorf("%w: approval evaluation returned status %q", ErrInvalidVerdict, status))
		}
	}
	rec := audit.Record{Time: v.At, Type: audit.TypeVerdict, RunID: run.ID, EventID: run.Event.ID, Subject: run.Subject,
		Actor: v.Approver, Outcome: string(status),
		Data: map[string]any{"approval_id": v.ApprovalID, "channel": v.Channel, "reason": v.Reason, "summary_hash": a.Request.SummaryHash}}
	if err := r.record(ctx, rec); err != nil {
		return fmt.Errorf("playbook: verdict not recorded: %w", err)
	}
	a.Verdicts = append(a.Verdicts, v)
	if status != ApprovalPending {
		a.Status, a.DecidedAt = status, v.At
	}
	if _, err := r.store.UpdateRun(ctx, run); err != nil {
		return fmt.Errorf("playbook: storing verdict on %q: %w", v.ApprovalID, err)
	}
	if status != ApprovalPending {
		r.continueRun(run)
	}
	return nil
}

func (r *Runner) rejectVerdict(ctx context.Context, run Run, v Verdict, cause error) error {
	rec := audit.Record{Time: v.At, Type: audit.TypeVerdictRejected, RunID: run.ID, EventID: run.Event.ID, Subject: run.Subject,
		Actor: v.Approver, Error: cause.Error(),
		Data: map[string]any{"approval_id": v.ApprovalID, "channel": v.Channel, "approve": v.Approve}}
	refused := &VerdictRefusedError{ApprovalID: v.ApprovalID, Approver: v.Approver, Err: cause}
	if err := r.record(ctx, rec); err != nil {
		return errors.Join(refused, err)
	}
	r.log.Warn("verdict rejected", "approval_id", v.ApprovalID, "approver", v.Approver, "err", cause)
	return refused
}

// expireLocked denies an approval whose deadline passed and escalates its
// run. The caller holds approvalMu.
func (r *Runner) expireLocked(ctx context.Context, runID string) error {
	run, err := r.store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	a := run.Approval
	if a == nil || a.Status != ApprovalPending {
		return nil
	}
	now := r.clock.Now().UTC()
	if now.Before(a.Request.Deadline) {
		r.addDeadline(runID, a.Request.Deadline)
		return nil
	}
	rec := audit.Record{Time: now, Type: audit.TypeApprovalExpired, RunID: run.ID, EventID: run.Event.ID, Subject: run.Subject,
		Actor: "system", Outcome: string(ApprovalExpired),
		Data: map[string]any{"approval_id": a.Request.ID, "deadline": a.Request.Deadline, "verdicts": len(a.Verdicts), "reason": "deadline passed " + expiryReason(a)}}
	if err := r.record(ctx, rec); err != nil {
		return err
	}
	a.Status, a.DecidedAt = ApprovalExpired, now
	if _, err := r.store.UpdateRun(ctx, run); err != nil {
		return err
	}
	r.forgetDeadline(runID)
	r.log.Warn("approval expired; escalating", "run_id", runID)
	r.continueRun(run)
	return nil
}

// continueRun queues a run whose approval was decided. When the runner has
// stopped, the decided approval stays in the store and the next runner's
// resume picks the run up.
func (r *Runner) continueRun(run Run) {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return
	}
	r.enqueue(run.ID, run.Subject, false)
}

// approvalRule returns the rule that counts verdicts, if any.
func (r *Runner) approvalRule() VerdictEvaluator {
	if r.pb.ApprovalRule != nil {
		return r.pb.ApprovalRule
	}
	if ev, ok := r.pb.Approver.(VerdictEvaluator); ok {
		return ev
	}
	return nil
}
