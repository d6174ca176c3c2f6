package playbook

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// DefaultInboxPoll is how often a runner reads a VerdictInbox when
// Options.InboxPoll is zero.
const DefaultInboxPoll = time.Second

// VerdictInbox is implemented by stores that carry verdicts from other
// processes (an operator CLI, a web front end on another host) to the
// runner that owns the store. The runner reads the inbox when it starts and
// every Options.InboxPoll, submits each verdict as Runner.Submit does, with
// the verdict's At as the time it was given, and then removes it. A verdict
// the runner refuses is audited as refused and removed too.
//
// Implementations must be safe for concurrent use, across processes for a
// store that several processes open.
type VerdictInbox interface {
	// PostVerdict queues v and returns its sequence number, increasing in
	// posting order. v.At must be set by the caller (when the verdict was
	// given); a zero At is refused with ErrInvalidVerdict.
	PostVerdict(ctx context.Context, v Verdict) (seq int64, err error)
	// InboxVerdicts returns up to limit queued verdicts (all if limit is
	// 0), oldest first.
	InboxVerdicts(ctx context.Context, limit int) ([]InboxVerdict, error)
	// RemoveVerdict deletes a queued verdict; removing one that is not
	// there is not an error.
	RemoveVerdict(ctx context.Context, seq int64) error
}

// InboxVerdict is a verdict waiting in a VerdictInbox.
type InboxVerdict struct {
	Seq     int64   `json:"seq"`
	Verdict Verdict `json:"verdict"`
}

// Locker is implemented by stores that only one runner may use at a time
// (an embedded database file). Runner.Run takes the lock before anything
// else and returns an error wrapping ErrStoreLocked at once if another
// runner holds it, so that two runners never execute the same run. The
// lock is released when Run returns, and by the operating system when the
// process dies, so a crashed runner never blocks its successor.
//
// Readers and other writers that are not runners (an operator CLI posting
// verdicts) need no lock.
type Locker interface {
	// Lock takes the runner lock for owner (a description for error
	// messages such as host and pid) and returns the function that
	// releases it. It fails fast with an error wrapping ErrStoreLocked
	// when the lock is held.
	Lock(ctx context.Context, owner string) (unlock func() error, err error)
}

// ErrStoreLocked: another runner holds the store's Locker.
var ErrStoreLocked = errors.New("store is in use by another runner")

// ApprovalLister is implemented by stores that list pending approvals
// without loading every waiting run into memory at once.
type ApprovalLister interface {
	// PendingApprovals returns up to limit runs (all if limit is 0) whose
	// Approval.Status is ApprovalPending, earliest deadline first, ties by
	// run id.
	PendingApprovals(ctx context.Context, limit int) ([]Run, error)
}

// PendingApprovals returns the runs of s waiting for a verdict, earliest
// deadline first (ties by run id), up to limit (all if 0). It uses s's
// ApprovalLister when it has one and filters ListRuns otherwise.
func PendingApprovals(ctx context.Context, s Store, limit int) ([]Run, error) {
	if l, ok := s.(ApprovalLister); ok {
		return l.PendingApprovals(ctx, limit)
	}
	runs, err := s.ListRuns(ctx, RunFilter{State: RunWaiting})
	if err != nil {
		return nil, err
	}
	out := runs[:0]
	for _, r := range runs {
		if r.Approval != nil && r.Approval.Status == ApprovalPending {
			out = append(out, r)
		}
	}
	SortByDeadline(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// SortByDeadline orders runs with an approval by the approval's deadline,
// earliest first, ties by run id; runs without an approval sort last.
func SortByDeadline(runs []Run) {
	slices.SortStableFunc(runs, func(a, b Run) int {
		switch {
		case a.Approval == nil && b.Approval == nil:
			return strings.Compare(a.ID, b.ID)
		case a.Approval == nil:
			return 1
		case b.Approval == nil:
			return -1
		}
		if c := a.Approval.Request.Deadline.Compare(b.Approval.Request.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}

// readInbox submits the verdicts waiting in the store's inbox.
func (r *Runner) readInbox(ctx context.Context, in VerdictInbox) {
	items, err := in.InboxVerdicts(ctx, 0)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("reading the verdict inbox failed", "err", err)
		}
		return
	}
	for _, it := range items {
		err := r.submit(ctx, it.Verdict, it.Verdict.At)
		if err != nil && !isVerdictRefusal(err) {
			// Not a refusal: the store or the audit failed. Keep the
			// verdict for the next pass.
			if ctx.Err() == nil {
				r.log.Error("submitting an inbox verdict failed; will retry", "approval_id", it.Verdict.ApprovalID, "err", err)
			}
			return
		}
		if err := in.RemoveVerdict(ctx, it.Seq); err != nil {
			r.log.Error("removing an inbox verdict failed", "seq", it.Seq, "err", err)
			return
		}
	}
}

// watchInbox reads the inbox every poll until ctx ends.
func (r *Runner) watchInbox(ctx context.Context, in VerdictInbox, poll time.Duration) {
	for {
		r.readInbox(ctx, in)
		t := r.clock.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// isVerdictRefusal reports whether err is Submit refusing a verdict (as
// opposed to failing to record one, which is worth another try).
func isVerdictRefusal(err error) bool {
	return errors.As(err, new(*VerdictRefusedError)) && !errors.Is(err, ErrAuditFailed)
}

// VerdictRefusedError is returned by Runner.Submit when it refuses a
// verdict; the refusal has been audited. Err says why and wraps one of the
// runner's sentinels (ErrApprovalNotFound, ErrApprovalClosed,
// ErrApprovalExpired, ErrSelfApproval, ErrInvalidVerdict) or the error of
// the playbook's approval rule.
type VerdictRefusedError struct {
	ApprovalID string
	Approver   string
	Err        error
}

// Error returns the reason for the refusal.
func (e *VerdictRefusedError) Error() string { return e.Err.Error() }

// Unwrap returns the reason, so errors.Is finds the sentinel.
func (e *VerdictRefusedError) Unwrap() error { return e.Err }
