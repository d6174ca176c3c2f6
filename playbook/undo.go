package playbook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/iamplaybook/iamplaybook/audit"
)

// Undo errors.
var (
	// ErrRunNotFinished: the run has not ended, so its containment may
	// still be running; undo it once it has.
	ErrRunNotFinished = errors.New("run has not finished")
	// ErrNoUndo: a step's action cannot be reversed (revoked sessions
	// cannot be restored); the step is reported and the others are undone.
	ErrNoUndo = errors.New("action cannot be undone")
)

// UndoStep reports what Undo did with one containment step.
type UndoStep struct {
	// StepID is the containment step's id ("contain/0/disable-user").
	StepID string `json:"step_id"`
	Action string `json:"action"`
	// Status is StatusUndone, StatusAlreadyApplied (the prior state was
	// already back), "skipped" (the step changed nothing, or was undone
	// before), or "failed".
	Status ActionStatus `json:"status"`
	Detail string       `json:"detail,omitempty"`
}

// UndoReport lists what Undo did, in the order it did it (the reverse of
// the containment).
type UndoReport struct {
	RunID string     `json:"run_id"`
	Steps []UndoStep `json:"steps"`
}

// Undo reverses the containment of a finished run, for a false positive: the
// steps that changed the account are undone in reverse order through their
// actions' Undoer, from the prior state each step journaled. by is the
// operator's identity and is required; reason is recorded with it.
//
// Every undo is a journaled step ("undo/<step id>") with its own
// idempotency key and an audit intent before it and result after it, so
// calling Undo again (after a failure, or twice) applies nothing twice and
// retries only what failed. Steps that changed nothing (already applied,
// dry-run) are skipped. A step whose action has no Undoer is reported with
// ErrNoUndo while the others are still undone. The error joins every step
// that could not be undone; the report says what happened to each.
//
// The undo takes the subject's turn: it never overlaps a run about the same
// account, and runs queued for the subject before it go first. If ctx ends
// before its turn comes, Undo returns ctx.Err() and undoes nothing; once
// started, it finishes. Without a running runner, Undo runs at once.
//
// Undo returns ErrRunNotFound for an unknown run and ErrRunNotFinished for
// a run that is waiting or running. Concurrent Undo calls are serialized.
func (r *Runner) Undo(ctx context.Context, runID, by, reason string) (UndoReport, error) {
	report := UndoReport{RunID: runID}
	if strings.TrimSpace(by) == "" {
		return report, errors.New("playbook: Undo needs the operator's identity (by)")
	}
	run, err := r.store.GetRun(ctx, runID)
	if err != nil {
		return report, fmt.Errorf("playbook: undo %s: %w", runID, err)
	}
	// Take the subject's turn, so that the undo never overlaps a run about
	// the same account (re-enabling it while a new containment disables
	// it). Without a running runner, nothing else executes: undo here.
	type result struct {
		report UndoReport
		err    error
	}
	done := make(chan result, 1)
	var state atomic.Int32 // 0 waiting, 1 started, 2 abandoned by the caller
	job := func(jctx context.Context) {
		if !state.CompareAndSwap(0, 1) {
			return
		}
		rep, err := r.undo(jctx, runID, by, reason)
		done <- result{rep, err}
	}
	if !r.enqueueJob(run.Subject, job) {
		return r.undo(ctx, runID, by, reason)
	}
	select {
	case res := <-done:
		return res.report, res.err
	case <-ctx.Done():
		if state.CompareAndSwap(0, 2) {
			return report, fmt.Errorf("playbook: undo %s not started: %w", runID, ctx.Err())
		}
		res := <-done // started: it finishes under the runner's context
		return res.report, res.err
	}
}

func (r *Runner) undo(ctx context.Context, runID, by, reason string) (UndoReport, error) {
	report := UndoReport{RunID: runID}
	r.undoMu.Lock()
	defer r.undoMu.Unlock()
	run, err := r.store.GetRun(ctx, runID)
	if err != nil {
		return report, fmt.Errorf("playbook: undo %s: %w", runID, err)
	}
	if run.State != RunDone {
		return report, fmt.Errorf("playbook: undo %s: %w (state %s)", runID, ErrRunNotFinished, run.State)
	}
	steps, err := r.store.Steps(ctx, runID)
	if err != nil {
		return report, fmt.Errorf("playbook: undo %s: reading the journal: %w", runID, err)
	}
	x := &execution{r: r, run: run, c: NewCase(run.ID, run.Event), steps: make(map[string]StepRecord, len(steps)), log: r.log.With("run_id", runID)}
	var actions []StepRecord
	for _, s := range steps {
		x.steps[s.StepID] = s
		if s.Kind == StepAction {
			actions = append(actions, s)
		}
	}
	slices.Reverse(actions)

	var errs []error
	for _, s := range actions {
		st, err := x.undoStep(ctx, s, by, reason)
		report.Steps = append(report.Steps, st)
		if err != nil {
			if errors.Is(err, ErrAuditFailed) {
				return report, err // fail closed: nothing more without a trail
			}
			errs = append(errs, err)
		}
	}
	joined := errors.Join(errs...)
	rec := audit.Record{Type: audit.TypeRunUndone, Actor: by, Outcome: "undone",
		Data: map[string]any{"reason": reason, "steps": len(report.Steps)}}
	if joined != nil {
		rec.Outcome, rec.Error = "incomplete", joined.Error()
	}
	if err := x.record(ctx, rec); err != nil {
		return report, errors.Join(joined, err)
	}
	x.run.Undo = &UndoRecord{By: by, Reason: reason, At: x.now(), Complete: joined == nil}
	if err := x.save(ctx); err != nil {
		return report, errors.Join(joined, err)
	}
	note := fmt.Sprintf("Containment undone by %s: %s", by, reason)
	if joined != nil {
		note = fmt.Sprintf("Containment partly undone by %s (%s): %v", by, reason, joined)
	}
	if x.run.Ticket != "" {
		_ = x.noteTicket(ctx, note)
	}
	r.log.Info("run undone", "run_id", runID, "by", by, "complete", joined == nil)
	return report, joined
}

// undoStep undoes one journaled containment step.
func (x *execution) undoStep(ctx context.Context, s StepRecord, by, reason string) (UndoStep, error) {
	out := UndoStep{StepID: s.StepID, Action: s.Action, Status: "skipped"}
	var done ActionResult
	if s.Status != StepDone || json.Unmarshal(s.Result, &done) != nil || done.Status != StatusApplied {
		out.Detail = "the step changed nothing"
		return out, nil
	}
	undoID := "undo/" + s.StepID
	prev, seen := x.steps[undoID]
	if seen && prev.Status == StepDone {
		out.Detail = "already undone"
		return out, nil
	}
	fail := func(err error) (UndoStep, error) {
		out.Status, out.Detail = "failed", err.Error()
		return out, fmt.Errorf("undo %s: %w", s.StepID, err)
	}
	action, ok := x.r.pb.Actions[s.Action]
	if !ok {
		return fail(fmt.Errorf("action %q is not in the playbook", s.Action))
	}
	u, ok := AsUndoer(action)
	if !ok {
		return fail(fmt.Errorf("%w: %s", ErrNoUndo, s.Action))
	}
	req := ActionRequest{
		RunID: x.run.ID, StepID: undoID, IdempotencyKey: idempotencyKey(x.run.ID, undoID),
		Subject: x.run.Event.Subject, Params: x.stepParams(s.StepID), Attempt: prev.Attempt + 1,
	}
	intent := audit.Record{Type: audit.TypeActionIntent, Step: undoID, Action: s.Action, IdempotencyKey: req.IdempotencyKey, Actor: by,
		Data: map[string]any{"mode": "undo", "undoes": s.StepID, "reason": reason, "attempt": req.Attempt}}
	if err := x.record(ctx, intent); err != nil {
		return out, err
	}
	step := StepRecord{RunID: x.run.ID, StepID: undoID, Kind: StepUndo, Action: s.Action, Status: StepStarted,
		IdempotencyKey: req.IdempotencyKey, Attempt: req.Attempt, StartedAt: x.now()}
	if err := x.putStep(ctx, step); err != nil {
		return fail(err)
	}
	var res ActionResult
	err := safeCall("undo "+s.Action, func() error {
		var err error
		res, err = u.Undo(ctx, req, done)
		return err
	})
	result := audit.Record{Type: audit.TypeActionResult, Step: undoID, Action: s.Action, IdempotencyKey: req.IdempotencyKey, Actor: by,
		Data: map[string]any{"mode": "undo", "undoes": s.StepID, "attempt": req.Attempt}}
	if err != nil {
		result.Outcome, result.Error = "failed", err.Error()
		result.Data["error_class"] = Classify(err).String()
	} else {
		if res.Status == "" {
			res.Status = StatusUndone
		}
		result.Outcome = string(res.Status)
		if res.Detail != "" {
			result.Data["detail"] = res.Detail
		}
	}
	if aerr := x.record(ctx, result); aerr != nil {
		return out, aerr
	}
	step.EndedAt = x.now()
	if err != nil {
		step.Status, step.Error = StepFailed, err.Error()
		_ = x.putStep(ctx, step)
		return fail(err)
	}
	step.Status = StepDone
	step.Result, _ = json.Marshal(res)
	if err := x.putStep(ctx, step); err != nil {
		return fail(err)
	}
	out.Status, out.Detail = res.Status, res.Detail
	return out, nil
}

// stepParams returns the parameters the decision gave containment step
// stepID ("contain/<index>/<action>").
func (x *execution) stepParams(stepID string) map[string]string {
	parts := strings.SplitN(stepID, "/", 3)
	if len(parts) != 3 || x.run.Decision == nil {
		return nil
	}
	i, err := strconv.Atoi(parts[1])
	if err != nil || i < 0 || i >= len(x.run.Decision.Steps) {
		return nil
	}
	return x.run.Decision.Steps[i].Params
}
