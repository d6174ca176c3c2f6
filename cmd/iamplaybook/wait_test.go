package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// TestWaitForRunner posts verdicts while a runner runs on the same file,
// and waits with --wait until the runner has applied them: the approved
// run is contained, the denied one escalated, and a verdict the runner
// refuses (its playbook's approval rule) is reported as refused.
func TestWaitForRunner(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		code    int
		out     string
		errOut  string
		outcome playbook.Outcome
		status  playbook.ApprovalStatus
		actions int32
	}{
		{name: "approve and wait: the run is contained", args: []string{"approve", "--by", lead, "--wait"}, code: exitOK,
			out: "is approved; run ", outcome: playbook.OutcomeContained, status: playbook.ApprovalApproved, actions: 1},
		{name: "deny and wait: the run is escalated", args: []string{"deny", "--by", lead, "--reason", "known travel", "--wait"}, code: exitOK,
			out: "is denied; run ", outcome: playbook.OutcomeEscalated, status: playbook.ApprovalDenied},
		{name: "a verdict the runner's approval rule refuses is reported", args: []string{"approve", "--by", "intern@contoso.example", "--wait"}, code: exitFail,
			errOut: "the runner refused the verdict", status: playbook.ApprovalPending},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				path := filepath.Join(t.TempDir(), "runs.db")
				st, err := sqlite.Open(ctx, path, sqlite.Options{})
				require.NoError(t, err)
				defer st.Close()
				var applied atomic.Int32
				pb := playbook.Playbook{
					Name: "wait-test",
					Policy: playbook.PolicyFunc(func(context.Context, *playbook.Case) (playbook.Decision, error) {
						return playbook.Decision{Response: playbook.RespondApprove, Rule: "always-ask", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
					}),
					Actions: map[string]playbook.Action{playbook.ActionDisableUser: playbook.ActionFunc(playbook.ActionDisableUser,
						func(context.Context, playbook.ActionRequest) (playbook.ActionResult, error) {
							applied.Add(1)
							return playbook.ActionResult{Status: playbook.StatusApplied}, nil
						})},
					ApprovalRule: onlyLeads{},
					Audit:        []playbook.AuditSink{audit.NewMemory()},
				}
				runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
				require.NoError(t, err)
				runCtx, stop := context.WithCancel(ctx)
				done := make(chan error, 1)
				go func() { done <- runner.Run(runCtx) }()
				<-runner.Ready()
				id, err := runner.Handle(ctx, playbook.Event{ID: "det-1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh,
					Subject: playbook.Subject{Provider: "entra", ID: "u-gus", Login: gusLogin}})
				require.NoError(t, err)
				require.NoError(t, runner.WaitIdle(ctx))

				args := append([]string{"--db", path, tc.args[0], id}, tc.args[1:]...)
				code, out, errOut := invoke(ctx, nil, args...)
				assert.Equal(t, tc.code, code, "stdout:\n%s\nstderr:\n%s", out, errOut)
				assert.Contains(t, out, tc.out)
				assert.Contains(t, errOut, tc.errOut)

				require.NoError(t, runner.WaitIdle(ctx))
				r, err := st.GetRun(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, tc.status, r.Approval.Status)
				assert.Equal(t, tc.outcome, r.Outcome)
				assert.Equal(t, tc.actions, applied.Load())
				stop()
				require.NoError(t, <-done)
			})
		})
	}
}

// TestWaitTimesOut: with no runner on the file, --wait gives up after
// --timeout and says the verdict stays queued.
func TestWaitTimesOut(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		code, out, errOut := invoke(t.Context(), nil, "--db", f.db, "--json", "approve", runWaiting, "--by", lead, "--wait", "--timeout", "5s")
		assert.Equal(t, exitFail, code)
		assert.Contains(t, errOut, "no runner applied the verdict within 5s; it stays queued")
		assert.Equal(t, 5*time.Second, time.Since(start), "the wait lasts --timeout, on the bubble's clock")
		var res verdictResult
		require.NoError(t, json.Unmarshal([]byte(out), &res))
		assert.Equal(t, "queued", res.Status)
	})
}

// onlyLeads admits verdicts from security leads only.
type onlyLeads struct{}

func (onlyLeads) Evaluate(_ playbook.ApprovalRequest, _ []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	if v.Approver != lead {
		return "", playbook.ErrInvalidVerdict
	}
	if v.Approve {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalDenied, nil
}
