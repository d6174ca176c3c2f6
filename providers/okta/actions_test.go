package okta_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

func req(e env, id, key string, params map[string]string) playbook.ActionRequest {
	return playbook.ActionRequest{RunID: "run", StepID: "contain/0/x", IdempotencyKey: key, Subject: e.p.Client().Subject(id), Params: params, Attempt: 1}
}

func TestActionsAgainstStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action string
		status string
		params map[string]string
		want   playbook.ActionStatus
		err    error
		after  string
	}{
		{"suspend active", playbook.ActionDisableUser, okta.StatusActive, nil, playbook.StatusApplied, nil, okta.StatusSuspended},
		{"suspend suspended", playbook.ActionDisableUser, okta.StatusSuspended, nil, playbook.StatusAlreadyApplied, nil, okta.StatusSuspended},
		{"suspend deprovisioned", playbook.ActionDisableUser, okta.StatusDeprovisioned, nil, playbook.StatusAlreadyApplied, nil, okta.StatusDeprovisioned},
		{"suspend locked out", playbook.ActionDisableUser, okta.StatusLockedOut, nil, "", playbook.ErrConflict, okta.StatusLockedOut},
		{"expire password", playbook.ActionResetCredentials, okta.StatusActive, nil, playbook.StatusApplied, nil, okta.StatusPasswordExpired},
		{"expire expired", playbook.ActionResetCredentials, okta.StatusPasswordExpired, nil, playbook.StatusAlreadyApplied, nil, okta.StatusPasswordExpired},
		{"reset password", playbook.ActionResetCredentials, okta.StatusActive, map[string]string{okta.ParamMode: "reset", okta.ParamSendEmail: "false"}, playbook.StatusApplied, nil, okta.StatusRecovery},
		{"reset in recovery", playbook.ActionResetCredentials, okta.StatusRecovery, map[string]string{okta.ParamMode: "reset"}, playbook.StatusAlreadyApplied, nil, okta.StatusRecovery},
		{"bad mode", playbook.ActionResetCredentials, okta.StatusActive, map[string]string{okta.ParamMode: "wipe"}, "", playbook.ErrInvalidRequest, okta.StatusActive},
		{"expire suspended", playbook.ActionResetCredentials, okta.StatusSuspended, nil, "", playbook.ErrConflict, okta.StatusSuspended},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, okta.ProviderConfig{})
			id := e.user(t, tc.status)
			writes := e.srv.Writes()
			res, err := e.p.Actions()[tc.action].Execute(t.Context(), req(e, id, "k", tc.params))
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
				assert.Equal(t, writes, e.srv.Writes())
			} else {
				require.NoError(t, err)
				assert.Equal(t, tc.want, res.Status, res.Detail)
			}
			u, _ := e.srv.User(id)
			assert.Equal(t, tc.after, u.Status)
		})
	}
}

func TestResetLinkNeverReturned(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	res, err := e.p.Actions()[playbook.ActionResetCredentials].Execute(t.Context(), req(e, id, "k", map[string]string{okta.ParamMode: "reset", okta.ParamSendEmail: "false"}))
	require.NoError(t, err)
	assert.NotContains(t, res.Detail+string(res.Prior), "reset_password/", "the reset link is a credential")
	assert.Nil(t, res.Response)
}

func TestRemoveRoleByLabelAndUndo(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	_, err := e.srv.AssignRole(id, "HELP_DESK_ADMIN")
	require.NoError(t, err)
	_, err = e.srv.AssignRole(id, okta.RoleSuperAdmin)
	require.NoError(t, err)
	a := e.p.Actions()[playbook.ActionRemoveRole]
	done, err := a.Execute(t.Context(), req(e, id, "k", map[string]string{okta.ParamRole: "super administrator"}))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, done.Status)
	assert.Equal(t, []string{"HELP_DESK_ADMIN"}, e.srv.Roles(id))
	res, err := a.(playbook.Undoer).Undo(t.Context(), req(e, id, "u", nil), done)
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusUndone, res.Status)
	assert.ElementsMatch(t, []string{"HELP_DESK_ADMIN", okta.RoleSuperAdmin}, e.srv.Roles(id))
	_, err = a.Execute(t.Context(), req(e, id, "k2", nil))
	require.ErrorIs(t, err, playbook.ErrInvalidRequest)
}

func TestRemoveGroupMember(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	admins := e.srv.AddGroup("Tier0 Admins", "")
	ad := e.srv.AddGroup("AD Admins", "APP_GROUP")
	require.NoError(t, e.srv.AddToGroup(id, admins))
	require.NoError(t, e.srv.AddToGroup(id, ad))
	a := e.p.Actions()[playbook.ActionRemoveGroupMember]
	res, err := a.Execute(t.Context(), req(e, id, "k1", map[string]string{okta.ParamGroup: "tier0 admins"}))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
	assert.False(t, e.srv.InGroup(id, admins))
	_, err = a.Execute(t.Context(), req(e, id, "k2", map[string]string{okta.ParamGroup: ad}))
	require.ErrorIs(t, err, playbook.ErrUnsupported)
	_, err = a.Execute(t.Context(), req(e, id, "k3", map[string]string{okta.ParamGroup: "No Such Group"}))
	require.ErrorIs(t, err, playbook.ErrNotFound)
}

func TestDeactivateOnlyWhenAllowed(t *testing.T) {
	t.Parallel()
	assert.NotContains(t, newEnv(t, okta.ProviderConfig{}).p.ActionNames(), okta.ActionDeactivateUser)
	e := newEnv(t, okta.ProviderConfig{AllowDeactivate: true})
	id := e.user(t, okta.StatusActive)
	a := e.p.Actions()[okta.ActionDeactivateUser]
	done, err := a.Execute(t.Context(), req(e, id, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, done.Status)
	u, _ := e.srv.User(id)
	assert.Equal(t, okta.StatusDeprovisioned, u.Status)
	res, err := a.(playbook.Undoer).Undo(t.Context(), req(e, id, "u", nil), done)
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusUndone, res.Status)
	u, _ = e.srv.User(id)
	assert.Equal(t, okta.StatusActive, u.Status)
}

func TestRevokeSessionsOAuthTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{RevokeOAuthTokens: true})
	id := e.user(t, okta.StatusActive)
	_, err := e.srv.AddSession(id, "198.51.100.1")
	require.NoError(t, err)
	res, err := e.p.Actions()[playbook.ActionRevokeSessions].Execute(t.Context(), req(e, id, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
	var q string
	for _, r := range e.srv.Requests() {
		if r.Op == oktatest.OpClearSessions {
			q = r.Query
		}
	}
	assert.Equal(t, "oauthTokens=true", q)
	_, err = e.p.Actions()[playbook.ActionRevokeSessions].Execute(t.Context(), req(e, id, "k3", map[string]string{okta.ParamOAuthTokens: "maybe"}))
	require.ErrorIs(t, err, playbook.ErrInvalidRequest)
	// A new sign-in after the clear makes the action apply again.
	_, err = e.srv.AddSession(id, "198.51.100.1")
	require.NoError(t, err)
	res, err = e.p.Actions()[playbook.ActionRevokeSessions].Execute(t.Context(), req(e, id, "k2", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, res.Status)
}

func TestIdempotencyKeyReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	a, b := e.user(t, okta.StatusActive), e.user(t, okta.StatusActive)
	disable := e.p.Actions()[playbook.ActionDisableUser]
	_, err := disable.Execute(t.Context(), req(e, a, "k", nil))
	require.NoError(t, err)
	_, err = disable.Execute(t.Context(), req(e, b, "k", nil))
	require.ErrorIs(t, err, playbook.ErrConflict)
	_, err = disable.Execute(t.Context(), playbook.ActionRequest{IdempotencyKey: "x", Subject: playbook.Subject{Provider: "entra", ID: a}})
	require.ErrorIs(t, err, playbook.ErrInvalidRequest)
}

func TestEnrichPrivilege(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cfg   okta.ProviderConfig
		role  string
		group bool
		want  playbook.Privilege
	}{
		{"super admin", okta.ProviderConfig{}, okta.RoleSuperAdmin, false, playbook.PrivilegePrivileged},
		{"org admin by default", okta.ProviderConfig{}, "ORG_ADMIN", false, playbook.PrivilegePrivileged},
		{"help desk is standard", okta.ProviderConfig{}, "HELP_DESK_ADMIN", false, playbook.PrivilegeStandard},
		{"help desk configured", okta.ProviderConfig{PrivilegedRoles: []string{"HELP_DESK_ADMIN"}}, "HELP_DESK_ADMIN", false, playbook.PrivilegePrivileged},
		{"super admin only", okta.ProviderConfig{PrivilegedRoles: []string{}}, "ORG_ADMIN", false, playbook.PrivilegeStandard},
		{"privileged group", okta.ProviderConfig{PrivilegedGroups: []string{"Tier0"}}, "", true, playbook.PrivilegePrivileged},
		{"no role", okta.ProviderConfig{}, "", false, playbook.PrivilegeStandard},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.cfg)
			id := e.user(t, okta.StatusActive)
			g := e.srv.AddGroup("Tier0", "")
			if tc.group {
				require.NoError(t, e.srv.AddToGroup(id, g))
			}
			if tc.role != "" {
				_, err := e.srv.AssignRole(id, tc.role)
				require.NoError(t, err)
			}
			_, err := e.srv.AddSession(id, "203.0.113.5")
			require.NoError(t, err)
			require.NoError(t, e.srv.SetRisk(id, "MEDIUM"))
			c := playbook.NewCase("r", playbook.Event{Subject: e.p.Client().Subject(id)})
			for name, en := range e.p.Enrichers() {
				require.NoError(t, en.Enrich(t.Context(), c), name)
			}
			f := c.Snapshot()
			assert.Equal(t, tc.want, f.Privilege)
			require.NotNil(t, f.Profile)
			assert.Equal(t, okta.StatusActive, f.Profile.Status)
			assert.True(t, f.Profile.Enabled)
			require.Len(t, f.SignIns, 1)
			assert.Equal(t, "203.0.113.5", f.SignIns[0].IP)
			assert.True(t, f.SignIns[0].Success)
			assert.Equal(t, playbook.RiskMedium, f.Risk)
		})
	}
}

func TestConfirmCompromised(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	require.NoError(t, e.srv.SetRisk(id, "MEDIUM"))
	a := e.p.Actions()[playbook.ActionConfirmCompromised]
	done, err := a.Execute(t.Context(), req(e, id, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusApplied, done.Status)
	lvl, err := e.p.Client().UserRisk(t.Context(), id)
	require.NoError(t, err)
	assert.Equal(t, "HIGH", lvl)
	res, err := a.Execute(t.Context(), req(e, id, "k2", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusAlreadyApplied, res.Status)
	res, err = a.(playbook.Undoer).Undo(t.Context(), req(e, id, "u", nil), done)
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusUndone, res.Status)
	lvl, _ = e.p.Client().UserRisk(t.Context(), id)
	assert.Equal(t, "LOW", lvl)
}

func TestRemoveRoleHeldThroughGroup(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	require.NoError(t, e.srv.AssignRoleViaGroup(id, "ORG_ADMIN"))
	_, err := e.p.Actions()[playbook.ActionRemoveRole].Execute(t.Context(), req(e, id, "k", map[string]string{okta.ParamRole: "ORG_ADMIN"}))
	require.ErrorIs(t, err, playbook.ErrConflict, "a group-derived role must be removed through the group")
	assert.Equal(t, []string{"ORG_ADMIN"}, e.srv.Roles(id))
	assert.Zero(t, e.srv.Writes())
}

// The idempotency records live in the Store the host passes: a provider
// restarted over a durable store still knows the keys it used, and
// records the results under its own keys there.
func TestIdempotencyRecordsSurviveRestart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := cursor.OpenFile(path)
	require.NoError(t, err)
	e := newEnv(t, okta.ProviderConfig{Store: st})
	a, b := e.user(t, okta.StatusActive), e.user(t, okta.StatusActive)
	res, err := e.p.Actions()[playbook.ActionDisableUser].Execute(t.Context(), req(e, a, "k", nil))
	require.NoError(t, err)
	require.Equal(t, playbook.StatusApplied, res.Status)
	_, ok, err := st.Get(t.Context(), "idempotency/k")
	require.NoError(t, err)
	require.True(t, ok, "the record is in the host's store")

	// A new process: a new provider and store over the same file.
	again, err := cursor.OpenFile(path)
	require.NoError(t, err)
	p2, err := okta.NewProvider(e.p.Client(), okta.ProviderConfig{Store: again})
	require.NoError(t, err)
	writes := e.srv.Writes()
	_, err = p2.Actions()[playbook.ActionDisableUser].Execute(t.Context(), req(e, b, "k", nil))
	require.ErrorIs(t, err, playbook.ErrConflict, "the key used before the restart is still bound to its user")
	res, err = p2.Actions()[playbook.ActionDisableUser].Execute(t.Context(), req(e, a, "k", nil))
	require.NoError(t, err)
	assert.Equal(t, playbook.StatusAlreadyApplied, res.Status)
	assert.Contains(t, res.Detail, `idempotency key "k" already applied`)
	assert.Equal(t, writes, e.srv.Writes(), "nothing is written again")
}
