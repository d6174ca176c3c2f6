package playbook_test

import (
	"context"
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
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// undoPlaybook contains with three steps: disable (undoable), revoke
// sessions (not undoable) and remove the Global Administrator role
// (undoable from the recorded assignment).
func undoPlaybook(t *testing.T) (*fake.Provider, playbook.Playbook) {
	idp := fake.New()
	require.NoError(t, idp.AddUser(fake.User{ID: "u1", Login: "ana@example.com"}))
	_, err := idp.AssignRole("u1", "global-admin", "/")
	require.NoError(t, err)
	_, err = idp.AddSession("u1", playbook.Session{ID: "s1"})
	require.NoError(t, err)
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondContain, Rule: "contain-all", Steps: []playbook.Step{
			{Action: playbook.ActionDisableUser},
			{Action: playbook.ActionRevokeSessions},
			{Action: playbook.ActionRemoveRole, Params: map[string]string{"role": "global-admin"}},
		}}, nil
	})
	return idp, playbook.Playbook{Name: "undo", Policy: policy, Actions: idp.Actions()}
}

func TestRunnerUndo(t *testing.T) {
	t.Parallel()
	idp, pb := undoPlaybook(t)
	h := playbooktest.New(t, pb)
	id := h.Fire(playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh, Subject: idp.Subject("u1")})
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeContained)
	u, _ := idp.User("u1")
	require.True(t, u.Disabled)
	require.False(t, idp.HasRole("u1", "global-admin"))

	report, err := h.Runner.Undo(t.Context(), id, "oncall@example.com", "false positive: travel")
	require.ErrorIs(t, err, playbook.ErrNoUndo, "revoked sessions cannot be restored, and Undo says so")
	require.Len(t, report.Steps, 3)
	assert.Equal(t, "contain/2/remove-role", report.Steps[0].StepID, "undone in reverse order")
	assert.Equal(t, playbook.StatusUndone, report.Steps[0].Status)
	assert.Equal(t, playbook.ActionStatus("failed"), report.Steps[1].Status)
	assert.Equal(t, playbook.StatusUndone, report.Steps[2].Status)

	u, _ = idp.User("u1")
	assert.False(t, u.Disabled, "the account is enabled again")
	assert.True(t, idp.HasRole("u1", "global-admin"), "the role assignment is restored")

	run := h.Run(id)
	require.NotNil(t, run.Undo)
	assert.Equal(t, "oncall@example.com", run.Undo.By)
	assert.False(t, run.Undo.Complete)
	undone := h.Records(audit.TypeRunUndone)
	require.Len(t, undone, 1)
	assert.Equal(t, "incomplete", undone[0].Outcome)
	for _, r := range h.Records(audit.TypeActionIntent, audit.TypeActionResult) {
		if r.Data["mode"] == "undo" {
			assert.Equal(t, "oncall@example.com", r.Actor, "the operator is the actor of every undo record")
		}
	}
	h.CheckInvariants()

	// Again: nothing is applied twice.
	writes := len(idp.Writes())
	report, err = h.Runner.Undo(t.Context(), id, "oncall@example.com", "again")
	require.ErrorIs(t, err, playbook.ErrNoUndo)
	assert.Equal(t, "already undone", report.Steps[0].Detail)
	assert.Equal(t, "already undone", report.Steps[2].Detail)
	assert.Equal(t, writes, len(idp.Writes()), "a second Undo changes nothing")
}

func TestRunnerUndoRefusals(t *testing.T) {
	t.Parallel()
	idp, pb := undoPlaybook(t)
	h := playbooktest.New(t, pb)

	_, err := h.Runner.Undo(t.Context(), "nope", "oncall", "x")
	require.ErrorIs(t, err, playbook.ErrRunNotFound)

	_, err = h.Runner.Undo(t.Context(), "nope", " ", "x")
	require.ErrorContains(t, err, "operator's identity")

	pb2 := pb
	pb2.Policy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondApprove, Rule: "ask", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
	})
	h2 := playbooktest.New(t, pb2)
	id := h2.Fire(playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Subject: idp.Subject("u1")})
	h2.Settle()
	_, err = h2.Runner.Undo(t.Context(), id, "oncall", "x")
	require.ErrorIs(t, err, playbook.ErrRunNotFinished, "a run waiting for approval has nothing to undo yet")
}

func TestRunnerUndoRetriesWhatFailed(t *testing.T) {
	t.Parallel()
	idp, pb := undoPlaybook(t)
	h := playbooktest.New(t, pb)
	id := h.Fire(playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Subject: idp.Subject("u1")})
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeContained)

	require.NoError(t, idp.Fail(fake.UndoOp(playbook.ActionDisableUser), playbook.ErrUnavailable, 1))
	report, err := h.Runner.Undo(t.Context(), id, "oncall", "fp")
	require.Error(t, err)
	assert.Equal(t, playbook.ActionStatus("failed"), report.Steps[2].Status)
	u, _ := idp.User("u1")
	assert.True(t, u.Disabled)

	report, err = h.Runner.Undo(t.Context(), id, "oncall", "fp, retry")
	require.ErrorIs(t, err, playbook.ErrNoUndo, "only revoke-sessions remains impossible")
	assert.Equal(t, playbook.StatusUndone, report.Steps[2].Status, "the failed undo is retried")
	assert.Equal(t, "already undone", report.Steps[0].Detail, "the role is not restored twice")
	u, _ = idp.User("u1")
	assert.False(t, u.Disabled)
}

// orderedAction records its executions and undos in order; executions of
// the event "slow" take ten seconds.
type orderedAction struct {
	mu  *sync.Mutex
	log *[]string
}

func (orderedAction) Name() string { return playbook.ActionDisableUser }

func (a orderedAction) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if req.Params["slow"] == "yes" {
		time.Sleep(10 * time.Second)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	*a.log = append(*a.log, "disable "+req.RunID)
	return playbook.ActionResult{Status: playbook.StatusApplied}, nil
}

func (a orderedAction) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	*a.log = append(*a.log, "enable "+req.RunID)
	return playbook.ActionResult{Status: playbook.StatusUndone}, nil
}

// orderedRuns starts a harness whose runs disable through an orderedAction,
// contains a first run about u1, and starts a second, slow one about u1.
// It returns the harness, both run ids and a reader of the action log.
func orderedRuns(t *testing.T) (h *playbooktest.Harness, first, second string, log func() []string) {
	t.Helper()
	var mu sync.Mutex
	var entries []string
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondContain, Rule: "r",
			Steps: []playbook.Step{{Action: playbook.ActionDisableUser, Params: map[string]string{"slow": c.Event.Attributes["slow"]}}}}, nil
	})
	h = playbooktest.New(t, playbook.Playbook{Name: "order", Policy: policy,
		Actions: map[string]playbook.Action{playbook.ActionDisableUser: orderedAction{mu: &mu, log: &entries}}})
	subject := playbook.Subject{Provider: "idp", ID: "u1"}
	first = h.Fire(playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Subject: subject})
	h.Settle()
	second = h.Fire(playbook.Event{ID: "e2", Type: playbook.EventRiskySignIn, Subject: subject, Attributes: map[string]string{"slow": "yes"}})
	return h, first, second, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(entries)
	}
}

// An undo takes the subject's turn: it never re-enables an account while a
// newer run about the same account is containing it.
func TestRunnerUndoWaitsForTheSubjectsRuns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, first, second, log := orderedRuns(t)
		time.Sleep(time.Second) // the second run is mid-containment
		_, err := h.Runner.Undo(t.Context(), first, "oncall", "false positive")
		require.NoError(t, err)
		h.Settle()
		assert.Equal(t, []string{"disable " + first, "disable " + second, "enable " + first}, log(),
			"the undo waited for the run in progress about the same subject")
	})
}

func TestRunnerUndoGivesUpBeforeItsTurn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, first, _, log := orderedRuns(t)
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		_, err := h.Runner.Undo(ctx, first, "oncall", "false positive")
		require.ErrorIs(t, err, context.DeadlineExceeded)
		h.Settle()
		assert.NotContains(t, log(), "enable "+first, "an abandoned undo never runs")
		assert.Nil(t, h.Run(first).Undo)
	})
}
