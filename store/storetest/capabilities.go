package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// capabilityCases check the optional interfaces a store may implement. A
// case whose interface the store lacks is skipped, saying so.
var capabilityCases = []storeCase{
	{
		name: "PendingApprovalsByDeadline",
		rule: "ApprovalLister.PendingApprovals returns exactly the runs whose current Approval.Status is pending, earliest deadline first with ties by run id, at most limit of them when limit > 0, each as GetRun returns it",
		run:  testPendingApprovals,
	},
	{
		name: "VerdictInboxQueue",
		rule: "VerdictInbox.PostVerdict refuses a verdict without At (ErrInvalidVerdict) and queues the others with sequence numbers that increase in posting order and are never reused; InboxVerdicts returns them oldest first, every field intact, at most limit of them; RemoveVerdict deletes one and ignores an unknown one",
		run:  testVerdictInbox,
	},
	{
		name: "VerdictInboxConcurrentPosts",
		rule: "16 goroutines posting verdicts at once lose none: every verdict is queued once with its own sequence number",
		run:  testConcurrentPosts,
	},
	{
		name: "LockerExcludes",
		rule: "Locker.Lock gives the lock to one owner at a time: a second Lock fails at once with ErrStoreLocked and an error naming the holder, and after the holder's unlock the lock can be taken again",
		run:  testLocker,
	},
}

func testPendingApprovals(t *testing.T, c *checker, s playbook.Store) {
	l, ok := s.(playbook.ApprovalLister)
	if !ok {
		t.Skipf("%T does not implement playbook.ApprovalLister", s)
	}
	ctx := t.Context()
	pending := func(id string, deadline time.Time) playbook.Run {
		r := fullRun(id, "u-"+id, playbook.RunWaiting, base)
		r.Approval.Status = playbook.ApprovalPending
		r.Approval.Verdicts = nil
		r.Approval.DecidedAt = time.Time{}
		r.Approval.Request.Deadline = deadline
		return r
	}
	decided := pending("decided", base.Add(-time.Hour))
	decided.Approval.Status = playbook.ApprovalApproved
	noApproval := fullRun("no-approval", "u9", playbook.RunRunning, base)
	noApproval.Approval = nil
	// Created in an order unrelated to the deadlines; "b" and "a" share
	// one instant (written in two locations), and "c" is earlier than its
	// creation order suggests.
	seed := []playbook.Run{
		pending("b", base.Add(2*time.Hour)),
		decided,
		pending("d", base.Add(3*time.Hour)),
		noApproval,
		pending("a", base.Add(2*time.Hour).UTC()),
		pending("c", base.Add(time.Hour)),
	}
	for _, r := range seed {
		c.noErr(s.CreateRun(ctx, r), "CreateRun "+r.ID)
	}
	list := func(limit int) []string {
		t.Helper()
		rs, err := l.PendingApprovals(ctx, limit)
		c.noErr(err, fmt.Sprintf("PendingApprovals(%d)", limit))
		ids := make([]string, 0, len(rs))
		for _, r := range rs {
			ids = append(ids, r.ID)
			stored, err := s.GetRun(ctx, r.ID)
			c.noErr(err, "GetRun "+r.ID)
			c.sameRun(r, stored, fmt.Sprintf("PendingApprovals(%d) entry %s compared to GetRun", limit, r.ID))
		}
		return ids
	}
	for _, tc := range []struct {
		limit int
		want  []string
	}{
		{0, []string{"c", "a", "b", "d"}},
		{2, []string{"c", "a"}},
		{10, []string{"c", "a", "b", "d"}},
	} {
		if got := list(tc.limit); !slices.Equal(got, tc.want) {
			c.errorf("PendingApprovals(%d) = %q, want %q", tc.limit, got, tc.want)
		}
	}

	// The list follows updates: "c" is decided, "d" gets an earlier
	// deadline, and the run without an approval now waits for one.
	update := func(id string, change func(r *playbook.Run)) {
		t.Helper()
		r, err := s.GetRun(ctx, id)
		c.noErr(err, "GetRun "+id)
		change(&r)
		_, err = s.UpdateRun(ctx, r)
		c.noErr(err, "UpdateRun "+id)
	}
	update("c", func(r *playbook.Run) {
		r.Approval.Status = playbook.ApprovalDenied
		r.State = playbook.RunDone
	})
	update("d", func(r *playbook.Run) { r.Approval.Request.Deadline = base.Add(90 * time.Minute) })
	update("no-approval", func(r *playbook.Run) {
		p := pending("no-approval", base.Add(4*time.Hour))
		r.Approval = p.Approval
		r.State = playbook.RunWaiting
	})
	if got, want := list(0), []string{"d", "a", "b", "no-approval"}; !slices.Equal(got, want) {
		c.errorf("after updates: PendingApprovals(0) = %q, want %q", got, want)
	}
	if _, err := l.PendingApprovals(ctx, -1); err == nil {
		c.errorf("PendingApprovals(-1) returned no error, want one naming the negative limit")
	}
}

// sameVerdicts reports a failure unless got and want hold the same
// verdicts, times as the same instant.
func (c *checker) sameVerdicts(got, want []playbook.InboxVerdict, what string) {
	c.t.Helper()
	enc := func(vs []playbook.InboxVerdict) string {
		vs = slices.Clone(vs)
		for i := range vs {
			vs[i].Verdict.At = vs[i].Verdict.At.UTC()
		}
		b, err := json.Marshal(vs)
		if err != nil {
			c.fatalf("encoding verdicts: %v", err)
		}
		if len(vs) == 0 {
			return "[]"
		}
		return string(b)
	}
	if g, w := enc(got), enc(want); g != w {
		c.errorf("%s: inbox differs\n got: %s\nwant: %s", what, g, w)
	}
}

func testVerdictInbox(t *testing.T, c *checker, s playbook.Store) {
	in, ok := s.(playbook.VerdictInbox)
	if !ok {
		t.Skipf("%T does not implement playbook.VerdictInbox", s)
	}
	ctx := t.Context()
	items, err := in.InboxVerdicts(ctx, 0)
	c.noErr(err, "InboxVerdicts of an empty inbox")
	if len(items) != 0 {
		c.errorf("a new inbox holds %d verdicts, want none", len(items))
	}
	_, err = in.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-x", Approver: "lead@example.com", Approve: true, Channel: "cli"})
	c.isErr(err, playbook.ErrInvalidVerdict, "PostVerdict without At")

	verdict := func(i int) playbook.Verdict {
		return playbook.Verdict{
			ApprovalID: fmt.Sprintf("apr-run-%d", i), Approver: fmt.Sprintf("lead%d@example.com", i),
			Approve: i%2 == 0, Reason: "checked with the user", Channel: "cli",
			SummaryHash: "9f86d081884c7d65", At: base.Add(time.Duration(i) * time.Second),
		}
	}
	var queued []playbook.InboxVerdict
	post := func(i int) {
		t.Helper()
		seq, err := in.PostVerdict(ctx, verdict(i))
		c.noErr(err, fmt.Sprintf("PostVerdict %d", i))
		if n := len(queued); n > 0 && seq <= queued[n-1].Seq {
			c.errorf("PostVerdict %d returned seq %d, not above the previous %d", i, seq, queued[n-1].Seq)
		}
		queued = append(queued, playbook.InboxVerdict{Seq: seq, Verdict: verdict(i)})
	}
	for i := range 4 {
		post(i)
	}
	items, err = in.InboxVerdicts(ctx, 0)
	c.noErr(err, "InboxVerdicts(0)")
	c.sameVerdicts(items, queued, "InboxVerdicts(0) after four posts")
	items, err = in.InboxVerdicts(ctx, 2)
	c.noErr(err, "InboxVerdicts(2)")
	c.sameVerdicts(items, queued[:2], "InboxVerdicts(2)")

	// Remove the second and the newest; an unknown seq is no error.
	c.noErr(in.RemoveVerdict(ctx, queued[1].Seq), "RemoveVerdict of the second")
	c.noErr(in.RemoveVerdict(ctx, queued[3].Seq), "RemoveVerdict of the newest")
	c.noErr(in.RemoveVerdict(ctx, queued[3].Seq), "RemoveVerdict of a removed verdict")
	c.noErr(in.RemoveVerdict(ctx, queued[3].Seq+1000), "RemoveVerdict of an unknown seq")
	last := queued[3].Seq
	queued = []playbook.InboxVerdict{queued[0], queued[2]}
	// The newest was removed: its number must not come back.
	seq, err := in.PostVerdict(ctx, verdict(4))
	c.noErr(err, "PostVerdict after removals")
	if seq <= last {
		c.errorf("PostVerdict after removing seq %d returned %d: sequence numbers must never be reused", last, seq)
	}
	queued = append(queued, playbook.InboxVerdict{Seq: seq, Verdict: verdict(4)})
	items, err = in.InboxVerdicts(ctx, 0)
	c.noErr(err, "InboxVerdicts after removals")
	c.sameVerdicts(items, queued, "InboxVerdicts after removals")

	// What InboxVerdicts returned is the caller's.
	if len(items) > 0 {
		items[0].Verdict.Approver = "mutated"
	}
	again, err := in.InboxVerdicts(ctx, 0)
	c.noErr(err, "InboxVerdicts")
	c.sameVerdicts(again, queued, "InboxVerdicts after the caller changed what it returned")
}

func testConcurrentPosts(t *testing.T, c *checker, s playbook.Store) {
	in, ok := s.(playbook.VerdictInbox)
	if !ok {
		t.Skipf("%T does not implement playbook.VerdictInbox", s)
	}
	ctx := t.Context()
	const posters, perPoster = 16, 8
	start := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]string{}
	for p := range posters {
		wg.Go(func() {
			<-start
			for i := range perPoster {
				id := fmt.Sprintf("apr-p%02d-%02d", p, i)
				seq, err := in.PostVerdict(ctx, playbook.Verdict{ApprovalID: id, Approver: "lead@example.com", Channel: "cli", At: base})
				if err != nil {
					c.errorf("poster %d: PostVerdict: %v", p, err)
					return
				}
				mu.Lock()
				if prev, dup := seqs[seq]; dup {
					c.errorf("seq %d was returned for %s and for %s", seq, prev, id)
				}
				seqs[seq] = id
				mu.Unlock()
			}
		})
	}
	close(start)
	wg.Wait()
	items, err := in.InboxVerdicts(ctx, 0)
	c.noErr(err, "InboxVerdicts")
	if len(items) != posters*perPoster {
		c.errorf("the inbox holds %d verdicts, want %d", len(items), posters*perPoster)
	}
	for i, it := range items {
		if seqs[it.Seq] != it.Verdict.ApprovalID {
			c.errorf("queued verdict seq %d is for %q, but PostVerdict returned that seq for %q", it.Seq, it.Verdict.ApprovalID, seqs[it.Seq])
		}
		if i > 0 && it.Seq <= items[i-1].Seq {
			c.errorf("InboxVerdicts is not in seq order at %d: %d after %d", i, it.Seq, items[i-1].Seq)
		}
	}
}

func testLocker(t *testing.T, c *checker, s playbook.Store) {
	l, ok := s.(playbook.Locker)
	if !ok {
		t.Skipf("%T does not implement playbook.Locker", s)
	}
	ctx := t.Context()
	unlockA, err := l.Lock(ctx, "runner-A on host-1")
	c.noErr(err, "first Lock")
	second := func(what string) {
		t.Helper()
		unlock, err := l.Lock(ctx, "runner-B on host-2")
		if err == nil {
			c.errorf("%s: Lock succeeded while runner-A holds the lock", what)
			if unlock != nil {
				c.noErr(unlock(), "unlock of the wrongly granted lock")
			}
			return
		}
		c.isErr(err, playbook.ErrStoreLocked, what)
		if !strings.Contains(err.Error(), "runner-A on host-1") {
			c.errorf("%s: the error %q does not name the holder %q", what, err, "runner-A on host-1")
		}
	}
	second("second Lock")
	second("third Lock")
	c.noErr(unlockA(), "unlock by runner-A")
	unlockB, err := l.Lock(ctx, "runner-B on host-2")
	c.noErr(err, "Lock after runner-A released it")
	unlockC, err := l.Lock(ctx, "runner-C")
	switch {
	case err == nil:
		c.errorf("Lock by runner-C succeeded while runner-B holds the lock")
		c.noErr(unlockC(), "unlock of the wrongly granted lock")
	case !errors.Is(err, playbook.ErrStoreLocked) || !strings.Contains(err.Error(), "runner-B on host-2"):
		c.errorf("Lock while runner-B holds the lock: got %v, want ErrStoreLocked naming runner-B", err)
	}
	c.noErr(unlockB(), "unlock by runner-B")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if unlock, err := l.Lock(cancelled, "runner-D"); err == nil {
		// Taking a free lock despite a done ctx is allowed; give it back.
		c.noErr(unlock(), "unlock by runner-D")
	}
}
