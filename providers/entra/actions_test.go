package entra_test

import (
	"net/http"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

func TestRevokeSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.user(t, "ana@contoso.example", func(u *entratest.User) { u.Sessions = 3 })
	a := f.action(t, playbook.ActionRevokeSessions)
	res, err := a.Execute(t.Context(), req(s, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
	assert.Equal(t, map[string]any{"status": 200, "value": true}, res.Response, "Graph's 200 {value:true} is success")
	u, _ := f.emu.User(s.ID)
	assert.Zero(t, u.Sessions)
	assert.False(t, u.SignInSessionsValidFrom.IsZero())

	again, err := a.Execute(t.Context(), req(s, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusAlreadyApplied, again.Status, "same key")
	assert.Len(t, requestsTo(f.emu, http.MethodPost, "/revokeSignInSessions"), 1)
	_, undoable := playbook.AsUndoer(a)
	assert.False(t, undoable, "sessions cannot be restored")
}

func TestRemoveGroupMemberUsesRef(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.user(t, "ana@contoso.example", nil)
	g, err := f.emu.AddGroup(entratest.Group{DisplayName: "Payments Admins"})
	require.NoError(t, err)
	require.NoError(t, f.emu.AddMember(g, s.ID))
	a := f.action(t, playbook.ActionRemoveGroupMember)
	// The group named by display name.
	res, err := a.Execute(t.Context(), req(s, "k", map[string]string{entra.ParamGroup: "Payments Admins"}))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
	assert.False(t, f.emu.IsMember(g, s.ID))
	_, exists := f.emu.User(s.ID)
	assert.True(t, exists, "the member object itself must survive")
	dels := requestsTo(f.emu, http.MethodDelete, "/members/")
	require.Len(t, dels, 1)
	assert.Equal(t, "/groups/"+g+"/members/"+s.ID+"/$ref", dels[0].Path)

	u, _ := playbook.AsUndoer(a)
	undone, err := u.Undo(t.Context(), req(s, "undo", nil), res)
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusUndone, undone.Status)
	assert.True(t, f.emu.IsMember(g, s.ID))

	_, err = a.Execute(t.Context(), req(s, "k2", map[string]string{entra.ParamGroup: "No Such Group"}))
	require.ErrorIs(t, err, playbook.ErrNotFound)
}

func TestRemoveRole(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{entratest.UserAdministrator, "User Administrator", "user administrator"} {
		t.Run(ref, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			s := f.user(t, "gus@contoso.example", nil)
			assignment, err := f.emu.AssignRole(s.ID, entratest.UserAdministrator)
			require.NoError(t, err)
			_, err = f.emu.AssignRole(s.ID, entratest.SecurityReader)
			require.NoError(t, err)
			a := f.action(t, playbook.ActionRemoveRole)
			res, err := a.Execute(t.Context(), req(s, "k", map[string]string{entra.ParamRole: ref}))
			require.NoError(t, err)
			assert.Equal(t, playbook.StatusApplied, res.Status)
			assert.Contains(t, string(res.Prior), assignment, "the removed assignment is recorded")
			assert.False(t, f.emu.HasRole(s.ID, entratest.UserAdministrator))
			assert.True(t, f.emu.HasRole(s.ID, entratest.SecurityReader), "other roles are kept")
			u, _ := playbook.AsUndoer(a)
			undone, err := u.Undo(t.Context(), req(s, "undo", nil), res)
			require.NoError(t, err)
			assert.Equal(t, playbook.StatusUndone, undone.Status)
			assert.True(t, f.emu.HasRole(s.ID, entratest.UserAdministrator))
		})
	}
}

func TestResetCredentialsIsHonest(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.user(t, "ana@contoso.example", nil)
	a := f.action(t, playbook.ActionResetCredentials)
	_, err := a.Execute(t.Context(), req(s, "k", nil))
	require.ErrorIs(t, err, playbook.ErrUnsupported)
	assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
	assert.Contains(t, err.Error(), "delegated permissions only")
	_, planner := playbook.AsPlanner(a)
	assert.False(t, planner, "a dry run must not pretend the reset would work")
	assert.Zero(t, f.emu.Writes())
}

func TestRiskActions(t *testing.T) {
	t.Parallel()
	// Identity Protection calls are paced a second apart: fake time.
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		require.NoError(t, f.emu.SetRiskyUser(entratest.RiskyUser{ID: s.ID, RiskLevel: "medium", RiskState: "atRisk"}))
		confirm := f.action(t, playbook.ActionConfirmCompromised)
		res, err := confirm.Execute(t.Context(), req(s, "k1", nil))
		require.NoError(t, err)
		assert.Equal(t, playbook.StatusApplied, res.Status)
		st, _ := f.emu.RiskyUserState(s.ID)
		assert.Equal(t, "confirmedCompromised", st.RiskState)
		assert.Equal(t, "high", st.RiskLevel)

		again, err := confirm.Execute(t.Context(), req(s, "k2", nil))
		require.NoError(t, err)
		assert.Equal(t, playbook.StatusAlreadyApplied, again.Status, "already confirmed")

		u, _ := playbook.AsUndoer(confirm)
		undone, err := u.Undo(t.Context(), req(s, "undo", nil), res)
		require.NoError(t, err)
		assert.Equal(t, playbook.StatusUndone, undone.Status)
		assert.Contains(t, undone.Detail, "cannot restore the prior level (medium")
		st, _ = f.emu.RiskyUserState(s.ID)
		assert.Equal(t, "dismissed", st.RiskState)

		dismiss := f.action(t, entra.ActionDismissRisk)
		d, err := dismiss.Execute(t.Context(), req(s, "k3", nil))
		require.NoError(t, err)
		assert.Equal(t, playbook.StatusAlreadyApplied, d.Status, "no open risk left")
	})
}

func TestActionsRefuseForeignSubjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for name, a := range f.c.Actions() {
		for _, s := range []playbook.Subject{{Provider: "okta", ID: "00u1"}, {Provider: entra.ProviderName}} {
			_, err := a.Execute(t.Context(), req(s, "k", nil))
			assert.ErrorIs(t, err, playbook.ErrInvalidRequest, "%s on %+v", name, s)
		}
	}
	assert.Zero(t, len(f.emu.Requests()), "nothing was sent")
	assert.ElementsMatch(t, entra.ActionNames(), keys(f.c.Actions()))
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRemoveRolePartialFailure checks that a retry of remove-role after a
// failure midway reports, for undo, every assignment the step removed.
func TestRemoveRolePartialFailure(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	s := f.user(t, "gus@contoso.example", nil)
	first, err := f.emu.AssignRole(s.ID, entratest.GlobalAdministrator)
	require.NoError(t, err)
	second, err := f.emu.AssignRole(s.ID, entratest.GlobalAdministrator)
	require.NoError(t, err)
	// Assignments are removed in id order; fail the later one once.
	later := max(first, second)
	f.emu.FailNext(entratest.Fault{Method: http.MethodDelete, PathContains: "/roleAssignments/" + later, Status: http.StatusServiceUnavailable})
	a := f.action(t, playbook.ActionRemoveRole)
	r := req(s, "k", map[string]string{entra.ParamRole: "Global Administrator"})
	_, err = a.Execute(t.Context(), r)
	require.ErrorIs(t, err, playbook.ErrUnavailable)
	assert.Contains(t, err.Error(), "after removing 1 of 2")
	r.Attempt = 2
	res, err := a.Execute(t.Context(), r)
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
	assert.Contains(t, string(res.Prior), first)
	assert.Contains(t, string(res.Prior), second)
	assert.False(t, f.emu.HasRole(s.ID, entratest.GlobalAdministrator))
}
