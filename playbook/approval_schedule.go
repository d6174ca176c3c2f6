package playbook

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// ApprovalSchedule is the timing an approval rule gives one request: how
// long it waits, how often the approvers are reminded, and when each
// escalation tier is told. Offsets count from ApprovalRequest.RequestedAt.
// The zero value means the playbook's ApprovalTimeout, no reminders and no
// escalation.
type ApprovalSchedule struct {
	// Timeout bounds the wait; at RequestedAt+Timeout an unsettled
	// request expires (a denial) and its run escalates. Zero means
	// Playbook.ApprovalTimeout.
	Timeout time.Duration
	// RemindEvery, when positive, sends a NoticeReminder every
	// RemindEvery while the request is pending, never at or after its
	// deadline. A runner that was down while several reminders fell due
	// sends one, not a burst.
	RemindEvery time.Duration
	// Escalations[i] is when tier i+1 is told (a NoticeEscalation with
	// Tier i+1). Offsets must be positive and increasing; a tier due at
	// or after the deadline is never told. Every tier whose time passed
	// while a runner was down is told when the next runner starts.
	Escalations []time.Duration
}

// Validate reports a negative or disordered duration.
func (s ApprovalSchedule) Validate() error {
	if s.Timeout < 0 {
		return errors.New("approval timeout is negative")
	}
	if s.RemindEvery < 0 {
		return errors.New("reminder interval is negative")
	}
	var prev time.Duration
	for i, d := range s.Escalations {
		if d <= prev {
			return fmt.Errorf("escalation tier %d at %s is not after the previous one (%s)", i+1, d, prev)
		}
		prev = d
	}
	return nil
}

// ApprovalScheduler is implemented by approval rules (Playbook.ApprovalRule,
// or an Approver that is also a VerdictEvaluator) that set a request's
// deadline, reminders and escalation tiers from the decision, usually by
// the rule that Decision.Approval names (see package approve).
//
// The runner calls ApprovalSchedule when it creates a request, to set the
// request's Deadline, and again whenever it checks for due notices, so the
// schedule must be a pure function of the decision: the same decision gives
// the same schedule, before and after a restart. It must be safe for
// concurrent use and must not block. An error (for example a decision that
// names an approval rule nobody defined) fails the run when the request is
// created, so the run escalates with that error instead of waiting.
//
// Notices are delivered to the Approver when it implements
// ApprovalFollower, from the runner's worker pool, and are recorded in
// Approval.Notices so that none is sent twice; a notice whose delivery
// began but was not recorded as finished when a runner stopped is sent
// again by the next one (Follow is idempotent).
type ApprovalScheduler interface {
	ApprovalSchedule(d Decision) (ApprovalSchedule, error)
}

// ApprovalNamer is implemented by policies that can list every approval
// rule name they may put in Decision.Approval. With a rule that implements
// ApprovalScheduler, Playbook.Validate then refuses a playbook whose policy
// names a rule the ApprovalRule does not define.
type ApprovalNamer interface {
	ApprovalNames() []string
}

// NoticeRecord is one reminder or escalation sent for a request, kept in
// Approval.Notices.
type NoticeRecord struct {
	Kind NoticeKind `json:"kind"`
	// Tier is the escalation tier, from 1; zero for a reminder.
	Tier int `json:"tier,omitempty"`
	// Due is when the schedule called for the notice.
	Due time.Time `json:"due"`
	// SentAt is when the approver's Follow returned; zero while the
	// notice is being sent (a runner that stopped meanwhile sends it
	// again).
	SentAt time.Time `json:"sent_at,omitzero"`
	// Error is why the delivery failed, if it did; a failed notice is
	// not sent again.
	Error string `json:"error,omitempty"`
}

func (n NoticeRecord) key() string {
	return string(n.Kind) + "/" + strconv.Itoa(n.Tier) + "/" + n.Due.UTC().Format(time.RFC3339Nano)
}

// validateApproval checks the approval parts of the playbook: the rule's
// own Validate, when it has one, and the rule names the policy may use.
func (p *Playbook) validateApproval() error {
	rule := p.ApprovalRule
	if rule == nil {
		rule, _ = p.Approver.(VerdictEvaluator)
	}
	if v, ok := rule.(interface{ Validate() error }); ok && rule != nil {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("ApprovalRule: %w", err)
		}
	}
	sched, ok := rule.(ApprovalScheduler)
	if !ok || sched == nil {
		return nil
	}
	namer, ok := p.Policy.(ApprovalNamer)
	if !ok {
		return nil
	}
	names := namer.ApprovalNames()
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		if _, err := sched.ApprovalSchedule(Decision{Response: RespondApprove, Approval: name}); err != nil {
			return fmt.Errorf("Policy may ask for approval rule %q: %w", name, err)
		}
	}
	return nil
}

// approvalScheduler returns the playbook's scheduler, if any: the
// ApprovalRule's, else the Approver's.
func (r *Runner) approvalScheduler() ApprovalScheduler {
	if s, ok := r.pb.ApprovalRule.(ApprovalScheduler); ok && s != nil {
		return s
	}
	if s, ok := r.pb.Approver.(ApprovalScheduler); ok && s != nil {
		return s
	}
	return nil
}

// approvalSchedule returns d's schedule, with the playbook's timeout
// filled in.
func (r *Runner) approvalSchedule(d Decision) (ApprovalSchedule, error) {
	var s ApprovalSchedule
	if sched := r.approvalScheduler(); sched != nil {
		var err error
		if serr := safeCall("approval schedule", func() error {
			s, err = sched.ApprovalSchedule(d)
			return nil
		}); serr != nil {
			err = serr
		}
		if err != nil {
			return ApprovalSchedule{}, fmt.Errorf("playbook: approval rule %q of decision rule %q: %w", d.Approval, d.Rule, err)
		}
		if err := s.Validate(); err != nil {
			return ApprovalSchedule{}, fmt.Errorf("playbook: approval rule %q: %w", d.Approval, err)
		}
	}
	if s.Timeout == 0 {
		s.Timeout = r.pb.approvalTimeout()
	}
	return s, nil
}

// dueNotices returns the notices of a pending request due at now that
// were not sent yet (or whose delivery a stopped runner began), and when
// the request next needs attention: its next notice or its deadline.
func dueNotices(a *Approval, s ApprovalSchedule, now time.Time, inflight func(NoticeRecord) bool) (due []NoticeRecord, next time.Time) {
	req := a.Request
	next = req.Deadline
	consider := func(t time.Time) {
		if t.After(now) && t.Before(next) {
			next = t
		}
	}
	done := func(n NoticeRecord) bool {
		for _, old := range a.Notices {
			if old.key() == n.key() {
				// A delivery begun by a runner that stopped before it
				// finished is sent again.
				return !old.SentAt.IsZero() || old.Error != "" || inflight(n)
			}
		}
		return false
	}
	for i, after := range s.Escalations {
		at := req.RequestedAt.Add(after)
		if !at.Before(req.Deadline) {
			break
		}
		if at.After(now) {
			consider(at)
			break
		}
		n := NoticeRecord{Kind: NoticeEscalation, Tier: i + 1, Due: at}
		if !done(n) {
			due = append(due, n)
		}
	}
	if s.RemindEvery > 0 {
		k := int64(now.Sub(req.RequestedAt) / s.RemindEvery)
		if k >= 1 {
			at := req.RequestedAt.Add(time.Duration(k) * s.RemindEvery)
			if at.Before(req.Deadline) {
				n := NoticeRecord{Kind: NoticeReminder, Due: at}
				later := slices.ContainsFunc(a.Notices, func(old NoticeRecord) bool {
					return old.Kind == NoticeReminder && old.Due.After(at)
				})
				if !later && !done(n) {
					due = append(due, n)
				}
			}
		}
		consider(req.RequestedAt.Add(time.Duration(k+1) * s.RemindEvery))
	}
	return due, next
}

// approvalDue handles a run whose approval needs attention: it expires a
// request whose deadline passed, and otherwise claims the notices that are
// due, hands them to the worker pool and schedules the next check.
func (r *Runner) approvalDue(ctx context.Context, runID string) error {
	r.approvalMu.Lock()
	run, err := r.store.GetRun(ctx, runID)
	if errors.Is(err, ErrRunNotFound) {
		r.approvalMu.Unlock()
		return nil
	}
	if err != nil {
		r.approvalMu.Unlock()
		// Try again soon: a store hiccup must not lose the deadline.
		r.addDeadline(runID, r.clock.Now().Add(time.Minute))
		return err
	}
	a := run.Approval
	if a == nil || a.Status != ApprovalPending {
		r.approvalMu.Unlock()
		r.forgetDeadline(runID)
		return nil
	}
	now := r.clock.Now().UTC()
	if !now.Before(a.Request.Deadline) {
		err := r.expireLocked(ctx, runID)
		r.approvalMu.Unlock()
		if err != nil {
			// The request must not stay pending past its deadline
			// because one write failed: try again soon.
			r.addDeadline(runID, now.Add(time.Minute))
		}
		return err
	}
	f, follows := r.pb.Approver.(ApprovalFollower)
	if !follows || r.approvalScheduler() == nil {
		r.approvalMu.Unlock()
		r.addDeadline(runID, a.Request.Deadline)
		return nil
	}
	s, err := r.approvalSchedule(a.Request.Decision)
	if err != nil {
		// The rule changed since the request was made: no notices, but
		// the deadline still holds.
		r.approvalMu.Unlock()
		r.addDeadline(runID, a.Request.Deadline)
		return err
	}
	r.mu.Lock()
	due, next := dueNotices(a, s, now, func(n NoticeRecord) bool { return r.dl.inflight[runID+"|"+n.key()] })
	r.mu.Unlock()
	if len(due) > 0 {
		claimed := slices.Clone(a.Notices)
		for _, n := range due {
			claimed = slices.DeleteFunc(claimed, func(old NoticeRecord) bool { return old.key() == n.key() })
			claimed = append(claimed, n)
		}
		a.Notices = claimed
		if _, err := r.store.UpdateRun(ctx, run); err != nil {
			r.approvalMu.Unlock()
			r.addDeadline(runID, now.Add(time.Minute))
			return fmt.Errorf("playbook: recording notices of %q: %w", a.Request.ID, err)
		}
		r.mu.Lock()
		if r.dl.inflight == nil {
			r.dl.inflight = make(map[string]bool)
		}
		for _, n := range due {
			r.dl.inflight[runID+"|"+n.key()] = true
		}
		r.mu.Unlock()
	}
	r.approvalMu.Unlock()
	r.addDeadline(runID, next)
	if len(due) > 0 {
		job := func(ctx context.Context) { r.sendNotices(ctx, f, runID, due) }
		if !r.enqueueJob(run.Subject, job) {
			job(ctx)
		}
	}
	return nil
}

// sendNotices delivers claimed notices, audits each and records its fate.
func (r *Runner) sendNotices(ctx context.Context, f ApprovalFollower, runID string, due []NoticeRecord) {
	defer func() {
		r.mu.Lock()
		for _, n := range due {
			delete(r.dl.inflight, runID+"|"+n.key())
		}
		r.mu.Unlock()
	}()
	for _, n := range due {
		run, err := r.store.GetRun(ctx, runID)
		if err != nil {
			r.log.Error("loading run for an approval notice failed", "run_id", runID, "err", err)
			return
		}
		a := run.Approval
		if a == nil || a.Status != ApprovalPending {
			return // settled meanwhile: nobody needs reminding
		}
		notice := ApprovalNotice{Kind: n.Kind, Request: a.Request, Status: a.Status, Verdicts: slices.Clone(a.Verdicts), Tier: n.Tier, At: r.clock.Now().UTC()}
		ferr := safeCall("approval follower", func() error { return f.Follow(ctx, notice) })
		if ferr != nil && ctx.Err() != nil {
			return // interrupted: the next runner sends it again
		}
		rec := audit.Record{Type: audit.TypeApprovalNotice, RunID: run.ID, EventID: run.Event.ID, Subject: run.Subject,
			Actor: "system", Outcome: string(n.Kind),
			Data: map[string]any{"approval_id": a.Request.ID, "notice": string(n.Kind), "due": n.Due, "tier": n.Tier}}
		if ferr != nil {
			rec.Outcome = string(n.Kind) + "-failed"
			rec.Error = ferr.Error()
			r.log.Warn("approval notice not delivered", "run_id", runID, "kind", n.Kind, "tier", n.Tier, "err", ferr)
		}
		if err := r.record(ctx, rec); err != nil {
			r.log.Error("auditing an approval notice failed", "run_id", runID, "err", err)
		}
		if err := r.markNotice(ctx, runID, n, ferr); err != nil {
			r.log.Error("recording an approval notice failed", "run_id", runID, "err", err)
		}
	}
}

// markNotice records that notice n was delivered (or failed with ferr).
func (r *Runner) markNotice(ctx context.Context, runID string, n NoticeRecord, ferr error) error {
	r.approvalMu.Lock()
	defer r.approvalMu.Unlock()
	run, err := r.store.GetRun(ctx, runID)
	if err != nil {
		return err
	}
	if run.Approval == nil {
		return nil
	}
	notices := slices.Clone(run.Approval.Notices)
	for i := range notices {
		if notices[i].key() == n.key() {
			notices[i].SentAt = r.clock.Now().UTC()
			if ferr != nil {
				notices[i].Error = ferr.Error()
			}
		}
	}
	run.Approval.Notices = notices
	_, err = r.store.UpdateRun(ctx, run)
	return err
}
