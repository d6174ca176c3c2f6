package playbook_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
)

// inboxStore is a memory store with a verdict inbox and a lock, as a
// database file shared by a runner and an operator's CLI has.
type inboxStore struct {
	*store.Memory
	mu       sync.Mutex
	seq      int64
	inbox    []playbook.InboxVerdict
	removes  int
	locked   bool
	failTake bool
}

func newInboxStore() *inboxStore { return &inboxStore{Memory: store.NewMemory()} }

func (s *inboxStore) PostVerdict(ctx context.Context, v playbook.Verdict) (int64, error) {
	if v.At.IsZero() {
		return 0, fmt.Errorf("%w: no time", playbook.ErrInvalidVerdict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	s.inbox = append(s.inbox, playbook.InboxVerdict{Seq: s.seq, Verdict: v})
	return s.seq, nil
}

func (s *inboxStore) InboxVerdicts(ctx context.Context, limit int) ([]playbook.InboxVerdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failTake {
		return nil, errors.New("disk I/O error")
	}
	out := slices.Clone(s.inbox)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *inboxStore) RemoveVerdict(ctx context.Context, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removes++
	s.inbox = slices.DeleteFunc(s.inbox, func(it playbook.InboxVerdict) bool { return it.Seq == seq })
	return nil
}

func (s *inboxStore) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox)
}

func (s *inboxStore) Lock(ctx context.Context, owner string) (func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.locked {
		return nil, fmt.Errorf("%w: held by the first runner", playbook.ErrStoreLocked)
	}
	s.locked = true
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.locked = false
		return nil
	}, nil
}

func TestRunnerAppliesInboxVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// post queues verdicts for approval id given while the runner was
		// down (down) or running.
		approver    string
		approve     bool
		givenAfter  time.Duration // after the request, before the restart
		restartAt   time.Duration // when the second runner starts
		want        playbook.Outcome
		wantRefused bool
	}{
		{name: "approved while down, applied on start", approver: "lead", approve: true,
			givenAfter: 10 * time.Minute, restartAt: 20 * time.Minute, want: playbook.OutcomeContained},
		{name: "approved in time, runner back after the deadline", approver: "lead", approve: true,
			givenAfter: 50 * time.Minute, restartAt: 3 * time.Hour, want: playbook.OutcomeContained},
		{name: "denied while down", approver: "lead", approve: false,
			givenAfter: 10 * time.Minute, restartAt: 20 * time.Minute, want: playbook.OutcomeEscalated},
		{name: "self-approval is refused and removed", approver: "alice", approve: true,
			givenAfter: 10 * time.Minute, restartAt: 3 * time.Hour, want: playbook.OutcomeEscalated, wantRefused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := newInboxStore()
				rec := &recorder{}
				pb := basePlaybook(rec)
				pb.ApprovalTimeout = time.Hour
				h1 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
				id := h1.Fire(event("e1", "alice", playbook.RespondApprove))
				h1.Settle()
				req := h1.RequireWaiting(id)
				h1.Close()

				time.Sleep(tt.givenAfter)
				_, err := st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: tt.approver,
					Approve: tt.approve, Reason: "checked", Channel: "cli", At: time.Now()})
				require.NoError(t, err)
				time.Sleep(tt.restartAt - tt.givenAfter)

				h2 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
				h2.Settle()
				h2.RequireOutcome(id, tt.want)
				assert.Zero(t, st.queued(), "every inbox verdict is removed once handled")
				assert.Equal(t, tt.wantRefused, len(h2.Records(audit.TypeVerdictRejected)) == 1, "a refused inbox verdict is audited")
				if !tt.wantRefused {
					v := h2.Run(id).Approval.Verdicts
					require.Len(t, v, 1)
					assert.Equal(t, "cli", v[0].Channel)
					assert.True(t, v[0].At.Before(req.Deadline), "the verdict keeps the time it was given")
				}
			})
		})
	}
}

func TestRunnerPollsInboxWhileRunning(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newInboxStore()
		rec := &recorder{}
		pb := basePlaybook(rec)
		h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st, InboxPoll: 5 * time.Second}})
		id := h.Fire(event("e1", "alice", playbook.RespondApprove))
		h.Settle()
		req := h.RequireWaiting(id)

		_, err := st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: "lead", Approve: true, Channel: "cli", At: time.Now()})
		require.NoError(t, err)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		h.RequireWaiting(id) // not read before the poll interval
		time.Sleep(time.Second)
		synctest.Wait()
		h.Settle()
		h.RequireOutcome(id, playbook.OutcomeContained)
		assert.Zero(t, st.queued())
	})
}

func TestRunnerKeepsInboxVerdictWhenStoreFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newInboxStore()
		rec := &recorder{}
		pb := basePlaybook(rec)
		h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st, InboxPoll: time.Second}})
		id := h.Fire(event("e1", "alice", playbook.RespondApprove))
		h.Settle()
		req := h.RequireWaiting(id)
		st.mu.Lock()
		st.failTake = true
		st.mu.Unlock()
		_, err := st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: "lead", Approve: true, Channel: "cli", At: time.Now()})
		require.NoError(t, err)
		time.Sleep(3 * time.Second)
		synctest.Wait()
		h.RequireWaiting(id)
		assert.Equal(t, 1, st.queued(), "an unreadable inbox loses nothing")

		st.mu.Lock()
		st.failTake = false
		st.mu.Unlock()
		time.Sleep(time.Second)
		synctest.Wait()
		h.Settle()
		h.RequireOutcome(id, playbook.OutcomeContained)
	})
}

func TestRunnerRefusesALockedStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := newInboxStore()
		pb := basePlaybook(&recorder{})
		first := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
		_ = first

		pb.Audit = []playbook.AuditSink{audit.NewMemory()}
		second, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		err = second.Run(t.Context())
		require.ErrorIs(t, err, playbook.ErrStoreLocked)
		assert.ErrorContains(t, err, "first runner", "the error names the holder")
		_, err = second.Handle(t.Context(), event("e1", "bob", playbook.RespondContain))
		require.ErrorIs(t, err, playbook.ErrRunnerClosed, "a runner that could not lock accepts nothing")

		first.Close()
		third := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
		id := third.Fire(event("e2", "bob", playbook.RespondContain))
		third.Settle()
		third.RequireOutcome(id, playbook.OutcomeContained)
	})
}

// followingApprover records the notices it is given.
type followingApprover struct {
	mu      sync.Mutex
	notices []playbook.ApprovalNotice
}

func (f *followingApprover) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	return nil
}

func (f *followingApprover) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, n)
	return errors.New("chat is down") // a failure must not change the run
}

func TestRunnerTellsFollowersHowApprovalsEnd(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		answer     func(r *playbook.Runner, approvalID string) error
		wantStatus playbook.ApprovalStatus
		want       playbook.Outcome
	}{
		{name: "approved", answer: func(r *playbook.Runner, id string) error {
			return r.Submit(context.Background(), playbook.Verdict{ApprovalID: id, Approver: "lead", Approve: true, Channel: "test"})
		}, wantStatus: playbook.ApprovalApproved, want: playbook.OutcomeContained},
		{name: "denied", answer: func(r *playbook.Runner, id string) error {
			return r.Submit(context.Background(), playbook.Verdict{ApprovalID: id, Approver: "lead", Channel: "test", Reason: "benign"})
		}, wantStatus: playbook.ApprovalDenied, want: playbook.OutcomeEscalated},
		{name: "expired", answer: func(r *playbook.Runner, id string) error { time.Sleep(5 * time.Hour); return nil },
			wantStatus: playbook.ApprovalExpired, want: playbook.OutcomeEscalated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := &followingApprover{}
				pb := basePlaybook(&recorder{})
				pb.Approver = f
				pb.Audit = []playbook.AuditSink{audit.NewMemory()}
				st := store.NewMemory()
				r, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan error, 1)
				go func() { done <- r.Run(ctx) }()
				defer func() { cancel(); require.NoError(t, <-done) }()

				id, err := r.Handle(ctx, event("e1", "alice", playbook.RespondApprove))
				require.NoError(t, err)
				synctest.Wait()
				require.NoError(t, tt.answer(r, playbook.ApprovalID(id)))
				synctest.Wait()
				run, err := st.GetRun(ctx, id)
				require.NoError(t, err)
				require.Equal(t, tt.want, run.Outcome)

				f.mu.Lock()
				defer f.mu.Unlock()
				require.Len(t, f.notices, 1, "one notice: how the request ended")
				n := f.notices[0]
				assert.Equal(t, playbook.NoticeSettled, n.Kind)
				assert.Equal(t, tt.wantStatus, n.Status)
				assert.Equal(t, playbook.ApprovalID(id), n.Request.ID)
			})
		})
	}
}

// A deadline that passed while no runner ran is handled before Ready, so a
// host that starts a runner, waits for Ready and then for WaitIdle sees
// the run escalated.
func TestRunnerFiresOverdueDeadlinesBeforeReady(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		pb := basePlaybook(&recorder{})
		pb.ApprovalTimeout = time.Hour
		h1 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
		id := h1.Fire(event("e1", "alice", playbook.RespondApprove))
		h1.Settle()
		h1.RequireWaiting(id)
		h1.Close()
		time.Sleep(2 * time.Hour)

		pb.Audit = []playbook.AuditSink{audit.NewMemory()}
		r, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: slog.New(slog.DiscardHandler)})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		<-r.Ready()
		require.NoError(t, r.WaitIdle(ctx))
		run, err := st.GetRun(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, playbook.OutcomeEscalated, run.Outcome, "escalated by the time the runner is idle")
		cancel()
		require.NoError(t, <-done)
	})
}
