package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/iamplaybook/iamplaybook/playbook"
)

var (
	_ playbook.VerdictInbox   = (*Memory)(nil)
	_ playbook.ApprovalLister = (*Memory)(nil)
)

// verdictInbox is Memory's queue of posted verdicts.
type verdictInbox struct {
	mu    sync.Mutex
	seq   int64
	items []playbook.InboxVerdict
}

// PostVerdict queues a copy of v and returns its sequence number: 1 for
// the first verdict, then increasing in posting order, never reused. A
// zero v.At or an empty v.ApprovalID is refused with an error wrapping
// playbook.ErrInvalidVerdict. PostVerdict does not check the approval;
// the runner reading the inbox does. A Memory's inbox is seen only by
// runners in the same process, so it serves hosts that post verdicts from
// another goroutine (a web handler) without holding the Runner.
func (m *Memory) PostVerdict(ctx context.Context, v playbook.Verdict) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	switch {
	case v.At.IsZero():
		return 0, fmt.Errorf("store: PostVerdict for %q: %w: the time it was given (At) is not set", v.ApprovalID, playbook.ErrInvalidVerdict)
	case v.ApprovalID == "":
		return 0, fmt.Errorf("store: PostVerdict: %w: the approval id is empty", playbook.ErrInvalidVerdict)
	}
	in := &m.inbox
	in.mu.Lock()
	defer in.mu.Unlock()
	in.seq++
	in.items = append(in.items, playbook.InboxVerdict{Seq: in.seq, Verdict: v})
	return in.seq, nil
}

// InboxVerdicts returns copies of up to limit queued verdicts (all if
// limit is 0), oldest first. A negative limit is an error.
func (m *Memory) InboxVerdicts(ctx context.Context, limit int) ([]playbook.InboxVerdict, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("store: InboxVerdicts: limit %d is negative (0 means no limit)", limit)
	}
	in := &m.inbox
	in.mu.Lock()
	defer in.mu.Unlock()
	items := in.items
	if limit > 0 && len(items) > limit {
		items = items[:limit]
	}
	if len(items) == 0 {
		return nil, nil
	}
	return slices.Clone(items), nil
}

// RemoveVerdict deletes queued verdict seq; removing one that is not there
// is not an error.
func (m *Memory) RemoveVerdict(ctx context.Context, seq int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	in := &m.inbox
	in.mu.Lock()
	defer in.mu.Unlock()
	// items are in seq order: find by binary search.
	i, ok := slices.BinarySearchFunc(in.items, seq, func(it playbook.InboxVerdict, seq int64) int {
		switch {
		case it.Seq < seq:
			return -1
		case it.Seq > seq:
			return 1
		}
		return 0
	})
	if ok {
		in.items = slices.Delete(in.items, i, i+1)
	}
	return nil
}

// PendingApprovals returns copies of up to limit runs (all if limit is 0)
// whose Approval.Status is playbook.ApprovalPending, earliest deadline
// first, ties by run id. It looks at every run, so it costs time in
// proportion to the runs held. A negative limit is an error.
func (m *Memory) PendingApprovals(ctx context.Context, limit int) ([]playbook.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit < 0 {
		return nil, fmt.Errorf("store: PendingApprovals: limit %d is negative (0 means no limit)", limit)
	}
	var found []*playbook.Run
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, e := range sh.runs {
			if a := e.run.Approval; a != nil && a.Status == playbook.ApprovalPending {
				found = append(found, e.run)
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(found, func(a, b *playbook.Run) int {
		if c := a.Approval.Request.Deadline.Compare(b.Approval.Request.Deadline); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	if limit > 0 && len(found) > limit {
		found = found[:limit]
	}
	out := make([]playbook.Run, len(found))
	for i, r := range found {
		out[i] = cloneRun(*r)
	}
	return out, nil
}
