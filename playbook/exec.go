package playbook

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// Journal step ids. Containment steps are "contain/<index>/<action>".
const (
	stepEnrich = "enrich"
	stepDecide = "decide"
)

// errInterrupted marks a run stopped by the runner's own shutdown: it stays
// in the store, unfinished, for the next runner to resume.
var errInterrupted = errors.New("run interrupted by shutdown")

// execution is one pass over a run, from where its journal says it stands
// to its end or to a wait for approval.
type execution struct {
	r     *Runner
	run   Run
	c     *Case
	steps map[string]StepRecord
	log   *slog.Logger
}

type enrichJournal struct {
	Facts      Facts                      `json:"facts"`
	Extensions map[string]json.RawMessage `json:"extensions,omitempty"`
}

// advance executes run runID as far as it can go. Errors never escape: a
// failing run is escalated, an interrupted one is left to resume.
func (r *Runner) advance(ctx context.Context, runID string) {
	log := r.log.With("run_id", runID)
	run, err := r.store.GetRun(ctx, runID)
	if err != nil {
		log.Error("loading run failed; it stays in the store for resume", "err", err)
		return
	}
	if run.State == RunDone {
		return
	}
	if run.State == RunWaiting && run.Approval != nil && run.Approval.Status == ApprovalPending {
		return
	}
	steps, err := r.store.Steps(ctx, runID)
	if err != nil {
		log.Error("loading run journal failed; it stays in the store for resume", "err", err)
		return
	}
	x := &execution{r: r, run: run, c: NewCase(run.ID, run.Event), steps: make(map[string]StepRecord, len(steps)), log: log}
	for _, s := range steps {
		x.steps[s.StepID] = s
	}
	if err := x.proceed(ctx); err != nil {
		x.fail(ctx, err)
	}
}

func (x *execution) now() time.Time { return x.r.clock.Now().UTC() }

// save writes the run back with compare-and-swap. A conflict can only come
// from a verdict or expiry racing the execution; the stored approval wins
// and the write is retried.
func (x *execution) save(ctx context.Context) error {
	for range 5 {
		x.run.UpdatedAt = x.now()
		updated, err := x.r.store.UpdateRun(ctx, x.run)
		if err == nil {
			x.run = updated
			return nil
		}
		if !errors.Is(err, ErrVersionConflict) {
			return fmt.Errorf("saving run: %w", err)
		}
		stored, gerr := x.r.store.GetRun(ctx, x.run.ID)
		if gerr != nil {
			return fmt.Errorf("saving run: %w", gerr)
		}
		stored.State, stored.Outcome, stored.Decision, stored.Ticket, stored.Error =
			x.run.State, x.run.Outcome, x.run.Decision, x.run.Ticket, x.run.Error
		x.run = stored
	}
	return fmt.Errorf("saving run: %w (gave up after 5 attempts)", ErrVersionConflict)
}

func (x *execution) putStep(ctx context.Context, s StepRecord) error {
	if err := x.r.store.PutStep(ctx, s); err != nil {
		return fmt.Errorf("journaling step %s: %w", s.StepID, err)
	}
	x.steps[s.StepID] = s
	return nil
}

func (x *execution) record(ctx context.Context, rec audit.Record) error {
	rec.RunID = x.run.ID
	rec.EventID = x.run.Event.ID
	rec.Subject = x.run.Subject
	if rec.Actor == "" {
		rec.Actor = "system"
	}
	return x.r.record(ctx, rec)
}

func (x *execution) proceed(ctx context.Context) error {
	// A pending run becomes running with the decision's save: enrichment
	// only reads, and a runner resumes pending and running runs alike.
	if x.run.State == RunPending {
		x.run.State = RunRunning
	}
	if err := x.enrich(ctx); err != nil {
		return err
	}
	d, err := x.decide(ctx)
	if err != nil {
		return err
	}
	switch d.Response {
	case RespondLog:
		return x.resolve(ctx, OutcomeLogged, "logged by rule "+d.Rule)
	case RespondMonitor:
		return x.resolve(ctx, OutcomeMonitoring, "monitoring by rule "+d.Rule)
	case RespondEscalate:
		return x.resolve(ctx, OutcomeEscalated, "escalated by rule "+d.Rule)
	case RespondContain:
		if err := x.openTicket(ctx, "containment"); err != nil {
			return err
		}
		return x.contain(ctx, d)
	case RespondApprove:
		return x.approval(ctx, d)
	}
	return fmt.Errorf("decision has unknown response %q", d.Response)
}

func (x *execution) enrich(ctx context.Context) error {
	if s, ok := x.steps[stepEnrich]; ok && s.Status == StepDone {
		var j enrichJournal
		if err := json.Unmarshal(s.Result, &j); err != nil {
			return fmt.Errorf("reading journaled enrichment: %w", err)
		}
		x.c.Facts = j.Facts
		x.c.RestoreExtensions(j.Extensions)
		return nil
	}
	// Enrichment only reads, so it is journaled once, when it ends: an
	// interrupted enrichment simply runs again.
	prev := x.steps[stepEnrich]
	step := StepRecord{RunID: x.run.ID, StepID: stepEnrich, Kind: StepEnrich, Attempt: prev.Attempt + 1, StartedAt: x.now()}
	var err error
	if e := x.r.pb.Enricher; e != nil {
		err = safeCall("enrich", func() error { return e.Enrich(ctx, x.c) })
	}
	if err != nil && ctx.Err() != nil {
		return errInterrupted
	}
	facts := x.c.Snapshot()
	ext := x.c.Extensions()
	j := enrichJournal{Facts: facts}
	data := map[string]any{"facts": facts}
	if len(ext) > 0 {
		j.Extensions = make(map[string]json.RawMessage, len(ext))
		generic := make(map[string]any, len(ext))
		for k, v := range ext {
			b, merr := json.Marshal(v)
			if merr != nil {
				err = errors.Join(err, fmt.Errorf("case extension %q is not JSON-encodable: %w", k, merr))
				continue
			}
			j.Extensions[k] = b
			var g any
			_ = json.Unmarshal(b, &g)
			generic[k] = g
		}
		data["extensions"] = generic
	}
	rec := audit.Record{Type: audit.TypeEnrichment, Data: data}
	if err != nil {
		rec.Error = err.Error()
	}
	if aerr := x.record(ctx, rec); aerr != nil {
		return aerr
	}
	result, merr := json.Marshal(j)
	if merr != nil {
		err = errors.Join(err, merr)
	}
	step.Result, step.EndedAt = result, x.now()
	if err != nil {
		step.Status, step.Error = StepFailed, err.Error()
		_ = x.putStep(ctx, step)
		return fmt.Errorf("enrichment failed: %w", err)
	}
	step.Status = StepDone
	return x.putStep(ctx, step)
}

func (x *execution) decide(ctx context.Context) (Decision, error) {
	if s, ok := x.steps[stepDecide]; ok && s.Status == StepDone && x.run.Decision != nil {
		// Journaled: the decision is on the run, and the step's start is
		// the Case.Now the policy saw.
		x.c.Now = s.StartedAt
		return x.run.Decision.Clone(), nil
	}
	prev := x.steps[stepDecide]
	x.c.Now = x.now()
	step := StepRecord{RunID: x.run.ID, StepID: stepDecide, Kind: StepDecide, Attempt: prev.Attempt + 1, StartedAt: x.c.Now}
	var d Decision
	err := safeCall("decide", func() error {
		var err error
		d, err = x.r.pb.Policy.Decide(ctx, x.c)
		return err
	})
	if err != nil && ctx.Err() != nil {
		return Decision{}, errInterrupted
	}
	if err == nil {
		err = d.Validate()
	}
	if err == nil {
		for _, s := range d.Steps {
			if _, ok := x.r.pb.Actions[s.Action]; !ok {
				err = fmt.Errorf("rule %q names action %q, which the playbook does not have", d.Rule, s.Action)
				break
			}
		}
	}
	rec := audit.Record{Type: audit.TypeDecision, Rule: d.Rule, Outcome: string(d.Response), Data: decisionData(d, x.c)}
	if err != nil {
		rec.Error = err.Error()
	}
	if aerr := x.record(ctx, rec); aerr != nil {
		return Decision{}, aerr
	}
	step.EndedAt = x.now()
	if err != nil {
		step.Status, step.Error = StepFailed, err.Error()
		_ = x.putStep(ctx, step)
		return Decision{}, fmt.Errorf("policy failed: %w", err)
	}
	// The run holds the decision first, then the journal marks the step
	// done: a crash between the two re-decides, never loses a decision.
	dd := d.Clone()
	x.run.Decision = &dd
	if err := x.save(ctx); err != nil {
		return Decision{}, err
	}
	step.Status = StepDone
	if err := x.putStep(ctx, step); err != nil {
		return Decision{}, err
	}
	return d, nil
}

// stepList is a decision's steps as audit data: action names and the
// policy's parameters, free of secrets by construction.
type stepList []Step

// AuditVerbatim marks the steps as free of secrets.
func (stepList) AuditVerbatim() {}

func decisionData(d Decision, c *Case) map[string]any {
	m := map[string]any{
		"response":  string(d.Response),
		"risk":      max(c.Event.Risk, c.Facts.Risk).String(),
		"privilege": c.Facts.Privilege.String(),
		"now":       c.Now,
	}
	if len(d.Steps) > 0 {
		m["steps"] = stepList(d.Steps)
	}
	if d.Reason != "" {
		m["reason"] = d.Reason
	}
	if d.Approval != "" {
		m["approval"] = d.Approval
	}
	if len(d.Notes) > 0 {
		m["notes"] = d.Notes
	}
	if c.Facts.Protected {
		m["protected"] = true
	}
	return m
}

func (x *execution) approval(ctx context.Context, d Decision) error {
	if x.run.DryRun {
		req, _, err := x.approvalRequest(d)
		if err != nil {
			return err
		}
		rec := audit.Record{Type: audit.TypeApprovalRequested, Rule: d.Rule, Outcome: "dry-run",
			Data: map[string]any{"dry_run": true, "would_request": true, "summary": req.Summary, "approval": d.Approval}}
		if err := x.record(ctx, rec); err != nil {
			return err
		}
		return x.contain(ctx, d)
	}
	a := x.run.Approval
	if a == nil {
		req, sched, err := x.approvalRequest(d)
		if err != nil {
			return err
		}
		rec := audit.Record{Type: audit.TypeApprovalRequested, Rule: d.Rule, Outcome: string(ApprovalPending),
			Data: map[string]any{"approval_id": req.ID, "deadline": req.Deadline, "summary": req.Summary, "summary_hash": req.SummaryHash, "approval": d.Approval}}
		if err := x.record(ctx, rec); err != nil {
			return err
		}
		x.run.Approval = &Approval{Request: req, Status: ApprovalPending}
		x.run.State = RunWaiting
		if err := x.save(ctx); err != nil {
			return err
		}
		_, first := dueNotices(x.run.Approval, sched, req.RequestedAt, func(NoticeRecord) bool { return false })
		x.r.watchApproval(x.run.ID, first)
		if err := x.openTicket(ctx, "approval required"); err != nil {
			return err
		}
		if err := x.noteTicket(ctx, fmt.Sprintf("Waiting for approval %s until %s.", req.ID, req.Deadline.Format(time.RFC3339))); err != nil {
			return err
		}
		if ap := x.r.pb.Approver; ap != nil {
			if err := safeCall("approver", func() error { return ap.Request(ctx, req) }); err != nil {
				x.log.Error("notifying approvers failed; the request still waits for its deadline", "err", err)
				rec := audit.Record{Type: audit.TypeApprovalRequested, Outcome: "notify-failed", Error: err.Error(),
					Data: map[string]any{"approval_id": req.ID}}
				if aerr := x.record(ctx, rec); aerr != nil {
					return aerr
				}
			}
		}
		x.log.Info("run waiting for approval", "approval_id", req.ID, "deadline", req.Deadline)
		return nil
	}
	switch a.Status {
	case ApprovalPending:
		if x.run.State != RunWaiting {
			x.run.State = RunWaiting
			return x.save(ctx)
		}
		return nil
	case ApprovalApproved:
		x.settled(ctx, a)
		if err := x.noteTicket(ctx, verdictNote(a)); err != nil {
			return err
		}
		if x.run.State != RunRunning {
			x.run.State = RunRunning
			if err := x.save(ctx); err != nil {
				return err
			}
		}
		return x.contain(ctx, d)
	case ApprovalDenied:
		x.settled(ctx, a)
		if err := x.noteTicket(ctx, verdictNote(a)); err != nil {
			return err
		}
		by := ""
		if n := len(a.Verdicts); n > 0 {
			by = " by " + a.Verdicts[n-1].Approver
		}
		return x.resolve(ctx, OutcomeEscalated, "approval denied"+by)
	case ApprovalExpired:
		x.settled(ctx, a)
		return x.resolve(ctx, OutcomeEscalated, "approval expired at "+a.Request.Deadline.Format(time.RFC3339)+" "+expiryReason(a))
	}
	return fmt.Errorf("approval has unknown status %q", a.Status)
}

// settled tells the approver, when it follows its requests, how the
// approval ended. A failure is logged: the outcome is already in the
// store and the audit trail, and the run goes on.
func (x *execution) settled(ctx context.Context, a *Approval) {
	f, ok := x.r.pb.Approver.(ApprovalFollower)
	if !ok || x.run.DryRun {
		return
	}
	n := ApprovalNotice{Kind: NoticeSettled, Request: a.Request, Status: a.Status, Verdicts: slices.Clone(a.Verdicts), At: x.now()}
	if err := safeCall("approval follower", func() error { return f.Follow(ctx, n) }); err != nil {
		x.log.Warn("telling approvers how the approval ended failed", "approval_id", a.Request.ID, "err", err)
	}
}

// expiryReason says why an expired request was not settled: nobody
// answered, or the approving verdicts fell short of the quorum.
func expiryReason(a *Approval) string {
	n := 0
	for _, v := range a.Verdicts {
		if v.Approve {
			n++
		}
	}
	switch {
	case len(a.Verdicts) == 0:
		return "without a verdict"
	case n == 1:
		return "with 1 approving verdict, short of the quorum"
	}
	return fmt.Sprintf("with %d approving verdicts, short of the quorum", n)
}

// verdictNote tells a ticket how an approval was decided.
func verdictNote(a *Approval) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Approval %s:", a.Status)
	for _, v := range a.Verdicts {
		word := "denied"
		if v.Approve {
			word = "approved"
		}
		fmt.Fprintf(&b, " %s by %s via %s at %s", word, v.Approver, v.Channel, v.At.Format(time.RFC3339))
		if v.Reason != "" {
			fmt.Fprintf(&b, " (%s)", v.Reason)
		}
		b.WriteString(";")
	}
	return strings.TrimSuffix(b.String(), ";") + "."
}

// approvalRequest builds the request for d. Its deadline comes from the
// approval rule's schedule (see ApprovalScheduler), else from
// Playbook.ApprovalTimeout; a rule that cannot schedule d (an approval
// rule name nobody defined) is an error that escalates the run.
func (x *execution) approvalRequest(d Decision) (ApprovalRequest, ApprovalSchedule, error) {
	sched, err := x.r.approvalSchedule(d)
	if err != nil {
		return ApprovalRequest{}, ApprovalSchedule{}, err
	}
	now := x.now()
	summary := x.summary(d)
	sum := sha256.Sum256([]byte(summary))
	return ApprovalRequest{
		ID: ApprovalID(x.run.ID), RunID: x.run.ID, Subject: x.subject(), Actor: x.run.Event.Actor,
		Identities: x.identities(),
		Risk:       x.run.Event.Risk, Decision: d.Clone(), Summary: summary, SummaryHash: hex.EncodeToString(sum[:]),
		RequestedAt: now, Deadline: now.Add(sched.Timeout),
	}, sched, nil
}

// identities lists every name of the subject the run knows: the event's
// subject and the enriched profile's id, login and e-mail, without
// duplicates (compared case-insensitively).
func (x *execution) identities() []string {
	s := x.run.Event.Subject
	names := []string{s.ID, s.Login, s.Key()}
	if p := x.c.Facts.Profile; p != nil {
		names = append(names, p.ID, p.Login, p.Email)
	}
	var out []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n != "" && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, n) }) {
			out = append(out, n)
		}
	}
	return out
}

// summary is the case as people see it in approvals and tickets.
// subject is the event's subject with the names it lacks (display name,
// login) filled in from the enriched profile, so that approvers see who the
// case is about even when the signal carried only an id.
func (x *execution) subject() Subject {
	s := x.run.Event.Subject
	if p := x.c.Facts.Profile; p != nil {
		if s.DisplayName == "" {
			s.DisplayName = p.DisplayName
		}
		if s.Login == "" {
			s.Login = cmp.Or(p.Login, p.Email)
		}
	}
	return s
}

func (x *execution) summary(d Decision) string {
	ev, f := x.run.Event, x.c.Facts
	var b strings.Builder
	subj := x.subject()
	name := subj.DisplayName
	if name == "" {
		name = subj.Login
	}
	fmt.Fprintf(&b, "Playbook: %s\n", x.r.pb.Name)
	fmt.Fprintf(&b, "Subject: %s (%s) [%s]\n", name, subj.Login, subj.Key())
	fmt.Fprintf(&b, "Event: %s, risk %s", ev.Type, ev.Risk)
	if ev.Reason != "" {
		fmt.Fprintf(&b, ", %s", ev.Reason)
	}
	if ev.Actor != "" {
		fmt.Fprintf(&b, ", by %s", ev.Actor)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "Privilege: %s", f.Privilege)
	if len(f.Roles) > 0 {
		names := make([]string, len(f.Roles))
		for i, r := range f.Roles {
			names[i] = r.Name
		}
		fmt.Fprintf(&b, " (%s)", strings.Join(names, ", "))
	}
	b.WriteString("\n")
	if len(f.Failures) > 0 {
		names := make([]string, len(f.Failures))
		for i, fl := range f.Failures {
			names[i] = fl.Enricher
		}
		fmt.Fprintf(&b, "Missing facts: %s\n", strings.Join(names, ", "))
	}
	steps := make([]string, len(d.Steps))
	for i, s := range d.Steps {
		steps[i] = s.Action
		if len(s.Params) > 0 {
			steps[i] += fmt.Sprint(s.Params)
		}
	}
	fmt.Fprintf(&b, "Decision: %s by rule %s: %s\n", d.Response, d.Rule, strings.Join(steps, ", "))
	if d.Reason != "" {
		fmt.Fprintf(&b, "Reason: %s\n", d.Reason)
	}
	return b.String()
}

// contain executes the decision's steps in order. Steps the journal marks
// done are skipped; a step the journal marks started was interrupted and
// runs again with the same idempotency key.
func (x *execution) contain(ctx context.Context, d Decision) error {
	if d.Response == RespondApprove && !x.run.DryRun {
		if err := approvedBy(x.run.Approval); err != nil {
			return err
		}
	}
	for i, st := range d.Steps {
		stepID := "contain/" + strconv.Itoa(i) + "/" + st.Action
		prev, seen := x.steps[stepID]
		if seen && prev.Status == StepDone {
			continue
		}
		if err := x.runStep(ctx, stepID, st, prev.Attempt+1, seen); err != nil {
			var skipped []string
			for _, rest := range d.Steps[i+1:] {
				skipped = append(skipped, rest.Action)
			}
			if len(skipped) > 0 && !errors.Is(err, errInterrupted) {
				err = fmt.Errorf("%w (steps not run: %s)", err, strings.Join(skipped, ", "))
			}
			return err
		}
	}
	if x.run.DryRun {
		return x.resolve(ctx, OutcomeDryRun, "dry-run: containment planned, nothing changed")
	}
	return x.resolve(ctx, OutcomeContained, "containment complete")
}

// approvedBy checks that an approval carries a recorded approving verdict.
func approvedBy(a *Approval) error {
	if a == nil || a.Status != ApprovalApproved {
		return errors.New("refusing to contain: the decision requires an approval that was not granted")
	}
	for _, v := range a.Verdicts {
		if v.Approve {
			return nil
		}
	}
	return errors.New("refusing to contain: the approval records no approving verdict")
}

func (x *execution) runStep(ctx context.Context, stepID string, st Step, attempt int, resumed bool) error {
	action := x.r.pb.Actions[st.Action]
	req := ActionRequest{
		RunID: x.run.ID, StepID: stepID, IdempotencyKey: idempotencyKey(x.run.ID, stepID),
		Subject: x.run.Event.Subject, Params: maps.Clone(st.Params), Attempt: attempt,
	}
	mode := "execute"
	if x.run.DryRun {
		mode = "plan"
	}
	intent := audit.Record{Type: audit.TypeActionIntent, Step: stepID, Action: st.Action, IdempotencyKey: req.IdempotencyKey,
		Data: map[string]any{"params": st.Params, "attempt": attempt, "mode": mode, "resumed": resumed}}
	if err := x.record(ctx, intent); err != nil {
		return err
	}
	started := x.now()
	step := StepRecord{RunID: x.run.ID, StepID: stepID, Kind: StepAction, Action: st.Action, Status: StepStarted,
		IdempotencyKey: req.IdempotencyKey, Attempt: attempt, StartedAt: started}
	if err := x.putStep(ctx, step); err != nil {
		return err
	}
	var res ActionResult
	err := safeCall("action "+st.Action, func() error {
		var err error
		if x.run.DryRun {
			res, err = plan(ctx, action, req)
		} else {
			res, err = action.Execute(ctx, req)
		}
		return err
	})
	interrupted := err != nil && ctx.Err() != nil
	result := audit.Record{Type: audit.TypeActionResult, Step: stepID, Action: st.Action, IdempotencyKey: req.IdempotencyKey,
		Data: map[string]any{"attempt": attempt, "mode": mode, "duration_ms": x.now().Sub(started).Milliseconds()}}
	switch {
	case interrupted:
		result.Outcome, result.Error = "interrupted", err.Error()
		result.Data["note"] = "the step will be retried with the same idempotency key when the run resumes"
	case err != nil:
		result.Outcome, result.Error = "failed", err.Error()
		result.Data["error_class"] = Classify(err).String()
		var pe *ProviderError
		if errors.As(err, &pe) {
			result.Data["provider_status"] = pe.Status
			result.Data["provider_code"] = pe.Code
		}
	default:
		result.Outcome = string(res.Status)
		if res.Detail != "" {
			result.Data["detail"] = res.Detail
		}
		if len(res.Response) > 0 {
			result.Data["response"] = res.Response
		}
	}
	if aerr := x.record(ctx, result); aerr != nil {
		return aerr
	}
	if interrupted {
		return errInterrupted
	}
	step.EndedAt = x.now()
	if err != nil {
		step.Status, step.Error = StepFailed, err.Error()
		if jerr := x.putStep(ctx, step); jerr != nil {
			return errors.Join(err, jerr)
		}
		_ = x.noteTicket(ctx, fmt.Sprintf("Step %s failed: %v", stepID, err))
		return fmt.Errorf("step %s: %w", stepID, err)
	}
	if res.Status == "" {
		res.Status = StatusApplied
	}
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("step %s: journaling result: %w", stepID, err)
	}
	step.Status, step.Result = StepDone, b
	if err := x.putStep(ctx, step); err != nil {
		return err
	}
	if x.run.Ticket == "" {
		return nil
	}
	return x.noteTicket(ctx, fmt.Sprintf("Step %s: %s. %s", stepID, res.Status, res.Detail))
}

// plan asks the action what it would do, without provider writes.
func plan(ctx context.Context, a Action, req ActionRequest) (ActionResult, error) {
	if p, ok := AsPlanner(a); ok {
		res, err := p.Plan(ctx, req)
		if err == nil && res.Status != StatusAlreadyApplied {
			res.Status = StatusDryRun
		}
		return res, err
	}
	return ActionResult{Status: StatusDryRun, Detail: fmt.Sprintf("would run %s on %s with %v", a.Name(), req.Subject.Key(), req.Params)}, nil
}

// resolve ends the run with its terminal outcome.
func (x *execution) resolve(ctx context.Context, o Outcome, reason string) error {
	x.run.State, x.run.Outcome = RunDone, o
	data := map[string]any{"reason": reason}
	if x.run.Decision != nil {
		data["rule"] = x.run.Decision.Rule
	}
	if x.run.Error != "" {
		data["error"] = x.run.Error
	}
	var errs []error
	if o == OutcomeEscalated {
		errs = append(errs, x.openTicket(ctx, "escalated"))
	}
	if x.run.Ticket != "" {
		data["ticket"] = x.run.Ticket
		if o == OutcomeEscalated {
			errs = append(errs, x.noteTicket(ctx, "Escalated for manual handling: "+reason))
		} else {
			errs = append(errs, x.closeTicket(ctx, string(o)+": "+reason))
		}
	}
	rec := audit.Record{Type: audit.TypeRunResolved, Outcome: string(o), Data: data}
	if err := x.record(ctx, rec); err != nil {
		errs = append(errs, err)
	}
	if err := x.save(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &resolveError{err}
	}
	x.log.Info("run resolved", "outcome", o, "reason", reason)
	return nil
}

// resolveError is a failure while resolving; the run's terminal state is
// already decided, so fail must not escalate it again.
type resolveError struct{ err error }

func (e *resolveError) Error() string { return e.err.Error() }
func (e *resolveError) Unwrap() error { return e.err }

// fail handles an error that stopped a run: interrupted runs are left to
// resume; anything else escalates with the error.
func (x *execution) fail(ctx context.Context, err error) {
	if errors.Is(err, errInterrupted) || ctx.Err() != nil {
		x.log.Warn("run interrupted; it stays in the store to resume", "err", err)
		return
	}
	var re *resolveError
	if errors.As(err, &re) {
		x.log.Error("resolving run failed", "outcome", x.run.Outcome, "err", err)
		if x.run.State == RunDone && x.run.Version > 0 {
			// Try once more to persist the terminal state if the save
			// itself failed.
			_ = x.save(ctx)
		}
		return
	}
	x.log.Error("run failed; escalating", "err", err)
	x.run.Error = err.Error()
	if errors.Is(err, ErrAuditFailed) {
		// Fail closed: no further audit can be trusted; persist the
		// escalation so it is visible, and stop.
		x.run.State, x.run.Outcome = RunDone, OutcomeEscalated
		if serr := x.save(ctx); serr != nil {
			x.log.Error("persisting escalation failed", "err", serr)
		}
		return
	}
	if rerr := x.resolve(ctx, OutcomeEscalated, "failure: "+err.Error()); rerr != nil {
		x.log.Error("escalating run failed", "err", rerr)
		x.run.State, x.run.Outcome = RunDone, OutcomeEscalated
		_ = x.save(ctx)
	}
}

// tickets

func (x *execution) openTicket(ctx context.Context, why string) error {
	t := x.r.pb.Ticketer
	if t == nil || x.run.Ticket != "" {
		return nil
	}
	ev := x.run.Event
	who := ev.Subject.Login
	if who == "" {
		who = ev.Subject.Key()
	}
	d := Decision{}
	if x.run.Decision != nil {
		d = *x.run.Decision
	}
	tk := audit.Ticket{
		RunID: x.run.ID, Subject: x.run.Subject, Severity: ev.Risk.String(),
		Title: fmt.Sprintf("[%s] %s on %s: %s", x.r.pb.Name, ev.Type, who, why),
		Body:  x.summary(d),
	}
	var ref string
	err := safeCall("ticketer", func() error {
		var err error
		ref, err = t.Open(ctx, tk)
		return err
	})
	rec := audit.Record{Type: audit.TypeTicket, Outcome: "opened", Data: map[string]any{"ref": ref, "why": why}}
	if err != nil {
		rec.Outcome, rec.Error = "open-failed", err.Error()
		x.log.Error("opening ticket failed", "err", err)
	}
	if aerr := x.record(ctx, rec); aerr != nil {
		return aerr
	}
	if err == nil {
		x.run.Ticket = ref
		if serr := x.save(ctx); serr != nil {
			return serr
		}
	}
	return nil
}

func (x *execution) noteTicket(ctx context.Context, note string) error {
	t := x.r.pb.Ticketer
	if t == nil || x.run.Ticket == "" {
		return nil
	}
	if err := safeCall("ticketer", func() error { return t.Update(ctx, x.run.Ticket, note) }); err != nil {
		x.log.Error("updating ticket failed", "ticket", x.run.Ticket, "err", err)
		return x.record(ctx, audit.Record{Type: audit.TypeTicket, Outcome: "update-failed", Error: err.Error(), Data: map[string]any{"ref": x.run.Ticket}})
	}
	return nil
}

func (x *execution) closeTicket(ctx context.Context, resolution string) error {
	t := x.r.pb.Ticketer
	if t == nil || x.run.Ticket == "" {
		return nil
	}
	err := safeCall("ticketer", func() error { return t.Close(ctx, x.run.Ticket, resolution) })
	rec := audit.Record{Type: audit.TypeTicket, Outcome: "closed", Data: map[string]any{"ref": x.run.Ticket, "resolution": resolution}}
	if err != nil {
		rec.Outcome, rec.Error = "close-failed", err.Error()
		x.log.Error("closing ticket failed", "ticket", x.run.Ticket, "err", err)
	}
	return x.record(ctx, rec)
}

// safeCall runs fn, turning a panic into a *PanicError.
func safeCall(stage string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Stage: stage, Value: v, Stack: stack()}
		}
	}()
	return fn()
}

func stack() []byte { return debug.Stack() }
