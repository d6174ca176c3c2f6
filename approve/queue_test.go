package approve_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// submitter records verdicts, or refuses them with err.
type submitter struct {
	mu  sync.Mutex
	got []playbook.Verdict
	err error
}

func (s *submitter) Submit(ctx context.Context, v playbook.Verdict) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.got = append(s.got, v)
	return nil
}

func req(id string) playbook.ApprovalRequest {
	return playbook.ApprovalRequest{ID: id, RunID: id, Subject: playbook.Subject{ID: "u1"}, Deadline: time.Unix(100, 0)}
}

func TestQueueScripts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		script approve.Answer
		want   []playbook.Verdict
	}{
		{name: "no script leaves requests waiting"},
		{name: "always approve", script: approve.AlwaysApprove("lead", "ok"),
			want: []playbook.Verdict{{ApprovalID: "a1", Approver: "lead", Approve: true, Reason: "ok", Channel: "script"}}},
		{name: "always deny", script: approve.AlwaysDeny("lead", "no"),
			want: []playbook.Verdict{{ApprovalID: "a1", Approver: "lead", Reason: "no", Channel: "script"}}},
		{name: "script declines", script: func(playbook.ApprovalRequest) (playbook.Verdict, bool) { return playbook.Verdict{}, false }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			q := approve.NewQueue()
			sub := &submitter{}
			q.Bind(sub)
			q.Script(tt.script)
			require.NoError(t, q.Request(t.Context(), req("a1")))
			require.NoError(t, q.Request(t.Context(), req("a1")), "a repeated request is recorded once")
			assert.Len(t, q.Requests(), 1)
			assert.Equal(t, tt.want, sub.got)
		})
	}
}

func TestQueueErrors(t *testing.T) {
	t.Parallel()
	q := approve.NewQueue()
	require.ErrorIs(t, q.Approve(t.Context(), "a1", "lead", ""), approve.ErrNotBound)
	q.Script(approve.AlwaysApprove("lead", ""))
	require.ErrorIs(t, q.Request(t.Context(), req("a1")), approve.ErrNotBound, "a script cannot answer before Bind")

	refused := errors.New("self-approval")
	q.Bind(&submitter{err: refused})
	err := q.Request(t.Context(), req("a2"))
	require.ErrorIs(t, err, refused, "a refused scripted verdict is reported to the runner")
	assert.Contains(t, err.Error(), "a2")
}

func TestQueueApproveDeny(t *testing.T) {
	t.Parallel()
	q := approve.NewQueue()
	sub := &submitter{}
	q.Bind(sub)
	require.NoError(t, q.Approve(t.Context(), "a1", "lead", "fine"))
	require.NoError(t, q.Deny(t.Context(), "a2", "lead", "no"))
	require.Len(t, sub.got, 2)
	assert.True(t, sub.got[0].Approve)
	assert.False(t, sub.got[1].Approve)
	assert.Equal(t, "queue", sub.got[1].Channel)
}

func TestQueueWaitFor(t *testing.T) {
	t.Parallel()
	q := approve.NewQueue()
	go func() {
		_ = q.Request(context.Background(), req("a1"))
		_ = q.Request(context.Background(), req("a2"))
	}()
	got, err := q.WaitFor(t.Context(), 2)
	require.NoError(t, err)
	assert.Len(t, got, 2)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = q.WaitFor(ctx, 3)
	require.ErrorIs(t, err, context.Canceled)
}

func TestFanout(t *testing.T) {
	t.Parallel()
	var called []string
	ok := playbook.ApproverFunc(func(ctx context.Context, r playbook.ApprovalRequest) error {
		called = append(called, "ok")
		return nil
	})
	boom := errors.New("chat is down")
	bad := approve.Notifier(func(ctx context.Context, r playbook.ApprovalRequest) error {
		called = append(called, "bad")
		return boom
	})
	err := approve.Fanout(bad, ok).Request(t.Context(), req("a1"))
	require.ErrorIs(t, err, boom)
	assert.Contains(t, err.Error(), "approver 0")
	assert.Equal(t, []string{"bad", "ok"}, called, "every approver is notified even when one fails")
}

// followRecorder is an approver that records the notices it follows.
type followRecorder struct {
	mu  sync.Mutex
	got []playbook.NoticeKind
	err error
}

func (f *followRecorder) Request(ctx context.Context, r playbook.ApprovalRequest) error { return nil }

func (f *followRecorder) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, n.Kind)
	return f.err
}

func TestFanoutFollow(t *testing.T) {
	t.Parallel()
	down := errors.New("pager is down")
	a, b := &followRecorder{}, &followRecorder{err: down}
	fan := approve.Fanout(approve.NewQueue(), a, b)
	f, ok := fan.(playbook.ApprovalFollower)
	require.True(t, ok, "a fan-out follows notices")
	err := f.Follow(t.Context(), playbook.ApprovalNotice{Kind: playbook.NoticeEscalation, Tier: 1})
	require.ErrorIs(t, err, down)
	assert.Contains(t, err.Error(), "approver 2", "the failing approver is named")
	assert.Equal(t, []playbook.NoticeKind{playbook.NoticeEscalation}, a.got, "followers hear the notice; the queue, which does not follow, is skipped")
	assert.Equal(t, []playbook.NoticeKind{playbook.NoticeEscalation}, b.got)
}
