package playbooktest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
)

func TestInvariantsCatchViolations(t *testing.T) {
	t.Parallel()
	ev := playbook.Event{ID: "e", Type: playbook.EventRiskySignIn, Subject: playbook.Subject{ID: "u"}}
	approveDecision := &playbook.Decision{Response: playbook.RespondApprove, Rule: "r", Steps: []playbook.Step{{Action: "a"}}}
	rec := func(typ audit.Type, step, outcome string) audit.Record {
		return audit.Record{RunID: "r1", Type: typ, Step: step, Outcome: outcome}
	}
	tests := []struct {
		name    string
		run     playbook.Run
		records []audit.Record
		want    string // "" means no violation
	}{
		{name: "a clean contained run", run: playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeContained},
			records: []audit.Record{rec(audit.TypeActionIntent, "s", ""), rec(audit.TypeActionResult, "s", "applied"), rec(audit.TypeRunResolved, "", "contained")}},
		{name: "two resolutions", want: "2 run.resolved records",
			run:     playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeLogged},
			records: []audit.Record{rec(audit.TypeRunResolved, "", "logged"), rec(audit.TypeRunResolved, "", "logged")}},
		{name: "outcome differs", want: `resolved as "logged" in the audit but "contained"`,
			run:     playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeContained},
			records: []audit.Record{rec(audit.TypeRunResolved, "", "logged")}},
		{name: "intent without result", want: "intent without a result",
			run:     playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeEscalated},
			records: []audit.Record{rec(audit.TypeActionIntent, "s", ""), rec(audit.TypeRunResolved, "", "escalated")}},
		{name: "result without intent", want: "without an intent",
			run:     playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeEscalated},
			records: []audit.Record{rec(audit.TypeActionResult, "s", "applied"), rec(audit.TypeRunResolved, "", "escalated")}},
		{name: "gated step without approval", want: "without an approving verdict",
			run: playbook.Run{ID: "r1", Event: ev, State: playbook.RunDone, Outcome: playbook.OutcomeContained, Decision: approveDecision},
			records: []audit.Record{rec(audit.TypeVerdict, "", "denied"), rec(audit.TypeActionIntent, "s", ""),
				rec(audit.TypeActionResult, "s", "applied"), rec(audit.TypeRunResolved, "", "contained")}},
		{name: "unfinished and not waiting", want: "unfinished (state running)",
			run: playbook.Run{ID: "r1", Event: ev, State: playbook.RunRunning}},
		{name: "waiting is a visible state", run: playbook.Run{ID: "r1", Event: ev, State: playbook.RunWaiting,
			Approval: &playbook.Approval{Status: playbook.ApprovalPending}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := store.NewMemory()
			require.NoError(t, st.CreateRun(t.Context(), tt.run))
			errs := playbooktest.Invariants(t.Context(), st, tt.records)
			if tt.want == "" {
				assert.Empty(t, errs)
				return
			}
			require.Len(t, errs, 1)
			assert.Contains(t, errs[0].Error(), tt.want)
		})
	}
}

func TestHarness(t *testing.T) {
	t.Parallel()
	act := playbook.ActionFunc("disable-user", func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondApprove, Rule: "always-ask", Steps: []playbook.Step{{Action: "disable-user"}}}, nil
	})
	h := playbooktest.New(t, playbook.Playbook{Name: "h", Policy: policy, Actions: map[string]playbook.Action{"disable-user": act}})
	id := h.Fire(playbook.Event{ID: "e1", Type: playbook.EventRiskyUser, Subject: playbook.Subject{ID: "u1"}})
	h.Settle()
	req := h.RequireWaiting(id)
	assert.Equal(t, playbook.ApprovalID(id), req.ID)
	assert.Len(t, h.Approvals.Requests(), 1, "the harness's queue is notified")
	require.NoError(t, h.Approve(id, "lead", "ok"))
	h.RequireOutcome(id, playbook.OutcomeContained)
	assert.NotEmpty(t, h.RunRecords(id))
	assert.Len(t, h.Records(audit.TypeVerdict), 1)
	assert.Len(t, h.Tickets.Tickets(), 1)
	h.CheckInvariants()

	_, err := h.Handle(playbook.Event{ID: "e1", Type: playbook.EventRiskyUser, Subject: playbook.Subject{ID: "u1"}})
	require.ErrorIs(t, err, playbook.ErrDuplicate)
}
