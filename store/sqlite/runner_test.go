package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

type quietApprover struct{}

func (quietApprover) Request(context.Context, playbook.ApprovalRequest) error { return nil }

// startRunner runs a runner of a playbook that asks approval to disable
// the subject, on the store at path, and returns it with the function that
// stops it and closes the store.
func startRunner(t *testing.T, path string, idp *fake.Provider) (*playbook.Runner, *sqlite.Store, func()) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	pb := playbook.Playbook{Name: "durable", Approver: quietApprover{}, ApprovalTimeout: 72 * time.Hour,
		Policy: playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondApprove, Rule: "ask", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}),
		Actions: idp.Actions(), Audit: []playbook.AuditSink{audit.Discard}}
	r, err := playbook.NewRunner(pb, playbook.Options{Store: s, Logger: discardLogger, Owner: "test runner", DedupWindow: 7 * 24 * time.Hour})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	stop := func() {
		cancel()
		require.NoError(t, <-done)
		require.NoError(t, s.Close())
	}
	return r, s, stop
}

// TestRunnerRestart runs the embedded runner on a SQLite file, stops it
// while a run waits for approval, and starts a new one on the file: the
// wait, its deadline and the event's de-duplication survive, a verdict
// posted by another process meanwhile continues the run, and a deadline
// that passed while no runner ran denies it. It runs in a synctest bubble,
// so the days the runner is down pass at once.
func TestRunnerRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		whileDown   func(t *testing.T, path string)
		wantOutcome playbook.Outcome
		wantWrites  int
	}{
		{
			name: "verdict posted while down",
			whileDown: func(t *testing.T, path string) {
				time.Sleep(time.Hour)
				cli := openAt(t, path, sqlite.Options{MustExist: true})
				pending, err := cli.PendingApprovals(t.Context(), 0)
				require.NoError(t, err)
				require.Len(t, pending, 1)
				_, err = cli.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: pending[0].Approval.Request.ID,
					Approver: "lead@example.com", Approve: true, Reason: "confirmed", Channel: "cli", At: time.Now()})
				require.NoError(t, err)
				require.NoError(t, cli.Close())
				time.Sleep(time.Hour)
			},
			wantOutcome: playbook.OutcomeContained, wantWrites: 1,
		},
		{
			name:        "deadline passed while down",
			whileDown:   func(t *testing.T, path string) { time.Sleep(73 * time.Hour) },
			wantOutcome: playbook.OutcomeEscalated, wantWrites: 0,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "runs.db")
			synctest.Test(t, func(t *testing.T) { testRestart(t, path, tc.whileDown, tc.wantOutcome, tc.wantWrites) })
		})
	}
}

func testRestart(t *testing.T, path string, whileDown func(t *testing.T, path string), wantOutcome playbook.Outcome, wantWrites int) {
	idp := fake.New()
	require.NoError(t, idp.AddUser(fake.User{ID: "alice", Login: "alice@example.com"}))
	ev := playbook.Event{ID: "evt-1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh,
		Subject: playbook.Subject{Provider: fake.DefaultName, ID: "alice", Login: "alice@example.com"}}

	r, s, stop := startRunner(t, path, idp)
	id, err := r.Handle(t.Context(), ev)
	require.NoError(t, err)
	require.NoError(t, r.WaitIdle(t.Context()))
	run, err := s.GetRun(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, playbook.RunWaiting, run.State)
	stop()

	whileDown(t, path)

	r, s, stop = startRunner(t, path, idp)
	defer stop()
	synctest.Wait() // the deadlines due at start have fired
	require.NoError(t, r.WaitIdle(t.Context()))
	run, err = s.GetRun(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, playbook.RunDone, run.State)
	assert.Equal(t, wantOutcome, run.Outcome)
	assert.Equal(t, wantWrites, idp.WriteCount(playbook.ActionDisableUser))
	again, err := r.Handle(t.Context(), ev)
	assert.ErrorIs(t, err, playbook.ErrDuplicate, "the same event after a restart starts no second run")
	assert.Equal(t, id, again)
}
