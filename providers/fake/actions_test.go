package fake_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// seeded returns a provider with user "alice" (enabled, global admin and
// helpdesk admin, in group "tier0", two sessions, risk medium) and user
// "bob" (disabled, nothing else).
func seeded(t *testing.T) *fake.Provider {
	t.Helper()
	p := fake.New()
	require.NoError(t, p.AddUser(fake.User{ID: "alice", Login: "alice@example.com", DisplayName: "Alice", Risk: playbook.RiskMedium, Tags: []string{"executive"}}))
	require.NoError(t, p.AddUser(fake.User{ID: "bob", Login: "bob@example.com", Disabled: true}))
	require.NoError(t, p.DefineGroup(fake.GroupDef{ID: "g1", Name: "tier0", Privileged: true}))
	require.NoError(t, p.DefineGroup(fake.GroupDef{ID: "g2", Name: "staff"}))
	_, err := p.AssignRole("alice", "global-admin", "")
	require.NoError(t, err)
	_, err = p.AssignRole("alice", "Helpdesk Administrator", "/administrativeUnits/eu")
	require.NoError(t, err)
	require.NoError(t, p.AddToGroup("alice", "tier0"))
	require.NoError(t, p.AddToGroup("alice", "g2"))
	for range 2 {
		_, err := p.AddSession("alice", playbook.Session{})
		require.NoError(t, err)
	}
	return p
}

func req(p *fake.Provider, user, key string, params map[string]string) playbook.ActionRequest {
	return playbook.ActionRequest{RunID: "r1", StepID: "s-" + key, IdempotencyKey: key, Subject: p.Subject(user), Params: params, Attempt: 1}
}

func TestActionsApplyAndUndo(t *testing.T) {
	t.Parallel()
	type check func(t *testing.T, p *fake.Provider) bool // reports whether the effect is in place
	for _, tc := range []struct {
		action   string
		params   map[string]string
		undoable bool
		effect   check
		prior    string
	}{
		{playbook.ActionDisableUser, nil, true,
			func(t *testing.T, p *fake.Provider) bool { u, _ := p.User("alice"); return u.Disabled },
			`{"enabled":true}`},
		{playbook.ActionRevokeSessions, nil, false,
			func(t *testing.T, p *fake.Provider) bool { return len(p.Sessions("alice")) == 0 },
			`{"sessions":["sess-3","sess-4"]}`},
		{playbook.ActionResetCredentials, nil, false,
			func(t *testing.T, p *fake.Provider) bool {
				u, _ := p.User("alice")
				return u.MustResetPassword && u.CredentialVersion == 1
			},
			`{"credential_version":0,"must_reset_password":false}`},
		{playbook.ActionRemoveRole, map[string]string{fake.ParamRole: "global-admin"}, true,
			func(t *testing.T, p *fake.Provider) bool {
				return !p.HasRole("alice", "global-admin") && p.HasRole("alice", "helpdesk-admin")
			}, ""},
		{playbook.ActionRemoveRole, map[string]string{fake.ParamRole: "729827e3-9c14-49f7-bb1b-9608f156bbb8"}, true,
			func(t *testing.T, p *fake.Provider) bool {
				return p.HasRole("alice", "global-admin") && !p.HasRole("alice", "helpdesk-admin")
			}, ""},
		{playbook.ActionRemoveRole, map[string]string{fake.ParamRole: "ra-2"}, true,
			func(t *testing.T, p *fake.Provider) bool {
				return p.HasRole("alice", "global-admin") && !p.HasRole("alice", "helpdesk-admin")
			}, ""},
		{playbook.ActionRemoveGroupMember, map[string]string{fake.ParamGroup: "TIER0"}, true,
			func(t *testing.T, p *fake.Provider) bool {
				return !p.InGroup("alice", "g1") && p.InGroup("alice", "g2")
			},
			`{"group":{"id":"g1","name":"tier0","privileged":true},"member":true}`},
		{playbook.ActionConfirmCompromised, nil, true,
			func(t *testing.T, p *fake.Provider) bool {
				u, _ := p.User("alice")
				return u.Compromised && u.Risk == playbook.RiskHigh
			},
			`{"compromised":false,"risk":"medium"}`},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.action, tc.params), func(t *testing.T) {
			t.Parallel()
			p := seeded(t)
			before := p.Roles("alice")
			a, ok := p.Action(tc.action)
			if !ok {
				t.Fatalf("no action %s", tc.action)
			}
			if tc.effect(t, p) {
				t.Fatal("effect in place before the action")
			}
			done, err := a.Execute(t.Context(), req(p, "alice", "k1", tc.params))
			if err != nil || done.Status != playbook.StatusApplied {
				t.Fatalf("Execute = %+v, %v; want applied", done, err)
			}
			if !tc.effect(t, p) {
				t.Fatal("effect not in place after Execute")
			}
			if tc.prior != "" && string(done.Prior) != tc.prior {
				t.Errorf("Prior = %s, want %s", done.Prior, tc.prior)
			}
			again, err := a.Execute(t.Context(), req(p, "alice", "k2", tc.params))
			if err != nil || again.Status != playbook.StatusAlreadyApplied {
				t.Fatalf("second Execute = %+v, %v; want already-applied", again, err)
			}
			if got := p.WriteCount(tc.action); got != 1 {
				t.Errorf("WriteCount(%s) = %d, want 1", tc.action, got)
			}
			u, ok := playbook.AsUndoer(a)
			if ok != tc.undoable {
				t.Fatalf("AsUndoer = %v, want %v", ok, tc.undoable)
			}
			if !ok {
				return
			}
			res, err := u.Undo(t.Context(), req(p, "alice", "u1", tc.params), done)
			if err != nil || res.Status != playbook.StatusUndone {
				t.Fatalf("Undo = %+v, %v; want undone", res, err)
			}
			if tc.effect(t, p) {
				t.Fatal("effect still in place after Undo")
			}
			if tc.action == playbook.ActionRemoveRole {
				if after := p.Roles("alice"); !sameAssignments(before, after) {
					t.Errorf("Undo restored %+v, want %+v", after, before)
				}
			}
			if tc.action == playbook.ActionConfirmCompromised {
				if u, _ := p.User("alice"); u.Risk != playbook.RiskMedium {
					t.Errorf("after dismissing, risk = %s, want the prior medium", u.Risk)
				}
			}
			res, err = u.Undo(t.Context(), req(p, "alice", "u2", tc.params), done)
			if err != nil || res.Status != playbook.StatusAlreadyApplied {
				t.Fatalf("second Undo = %+v, %v; want already-applied", res, err)
			}
			// Undoing the already-applied result restores nothing.
			res, err = u.Undo(t.Context(), req(p, "alice", "u3", tc.params), again)
			if err != nil || res.Status != playbook.StatusAlreadyApplied {
				t.Fatalf("Undo of an already-applied result = %+v, %v; want already-applied", res, err)
			}
			if got := p.WriteCount(fake.UndoOp(tc.action)); got != 1 {
				t.Errorf("WriteCount(%s) = %d, want 1", fake.UndoOp(tc.action), got)
			}
		})
	}
}

func sameAssignments(a, b []fake.Assignment) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]fake.Assignment{}
	for _, x := range a {
		seen[x.ID] = x
	}
	for _, y := range b {
		if seen[y.ID] != y {
			return false
		}
	}
	return true
}

func TestActionErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		action  string
		req     func(p *fake.Provider) playbook.ActionRequest
		want    error
		code    string
		unknown bool
	}{
		{"unknown user", playbook.ActionDisableUser,
			func(p *fake.Provider) playbook.ActionRequest { return req(p, "nobody", "k", nil) }, playbook.ErrNotFound, "UserNotFound", false},
		{"no subject", playbook.ActionDisableUser,
			func(p *fake.Provider) playbook.ActionRequest { return playbook.ActionRequest{IdempotencyKey: "k"} }, playbook.ErrInvalidRequest, "NoSubject", false},
		{"other provider", playbook.ActionDisableUser,
			func(p *fake.Provider) playbook.ActionRequest {
				r := req(p, "alice", "k", nil)
				r.Subject.Provider = "okta"
				return r
			}, playbook.ErrInvalidRequest, "WrongProvider", false},
		{"role missing", playbook.ActionRemoveRole,
			func(p *fake.Provider) playbook.ActionRequest { return req(p, "alice", "k", nil) }, playbook.ErrInvalidRequest, "MissingParameter", false},
		{"role undefined", playbook.ActionRemoveRole,
			func(p *fake.Provider) playbook.ActionRequest {
				return req(p, "alice", "k", map[string]string{"role": "Global Admin (typo)"})
			}, playbook.ErrNotFound, "RoleNotFound", false},
		{"group undefined", playbook.ActionRemoveGroupMember,
			func(p *fake.Provider) playbook.ActionRequest {
				return req(p, "alice", "k", map[string]string{"group": "nope"})
			},
			playbook.ErrNotFound, "GroupNotFound", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := seeded(t)
			a, _ := p.Action(tc.action)
			_, err := a.Execute(t.Context(), tc.req(p))
			var pe *playbook.ProviderError
			if !errors.As(err, &pe) || !errors.Is(err, tc.want) || pe.Code != tc.code || pe.Provider != "fake" || pe.Op != tc.action {
				t.Fatalf("err = %#v, want a fake ProviderError %s for %s wrapping %v", err, tc.code, tc.action, tc.want)
			}
			if c := playbook.Classify(err); c != playbook.ClassPermanent {
				t.Errorf("Classify = %s, want permanent", c)
			}
			if p.WriteCount(fake.AnyOp) != 0 {
				t.Error("a failed action wrote")
			}
			if calls := p.Calls(); len(calls) != 1 || !errors.Is(calls[0].Err, tc.want) {
				t.Errorf("call log = %+v, want the one failed call", calls)
			}
		})
	}
}

func TestRemoveRoleNotHeldIsAlreadyApplied(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	a, _ := p.Action(playbook.ActionRemoveRole)
	res, err := a.Execute(t.Context(), req(p, "bob", "k", map[string]string{"role": "Global Administrator"}))
	if err != nil || res.Status != playbook.StatusAlreadyApplied {
		t.Fatalf("Execute = %+v, %v; want already-applied for a role bob does not hold", res, err)
	}
}

func TestIdempotencyKey(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	disable, _ := p.Action(playbook.ActionDisableUser)
	revoke, _ := p.Action(playbook.ActionRevokeSessions)
	first, err := disable.Execute(t.Context(), req(p, "alice", "k", nil))
	if err != nil {
		t.Fatal(err)
	}
	require.NoError(t, p.UpdateUser("alice", func(u *fake.User) { u.Disabled = false }))

	t.Run("replay returns the original prior without applying", func(t *testing.T) {
		r := req(p, "alice", "k", nil)
		r.Attempt = 2
		res, err := disable.Execute(t.Context(), r)
		if err != nil || res.Status != playbook.StatusAlreadyApplied || string(res.Prior) != string(first.Prior) {
			t.Fatalf("replay = %+v, %v; want already-applied with Prior %s", res, err, first.Prior)
		}
		if u, _ := p.User("alice"); u.Disabled {
			t.Fatal("the replayed key disabled alice again")
		}
	})
	t.Run("reuse for another action is a conflict", func(t *testing.T) {
		_, err := revoke.Execute(t.Context(), req(p, "alice", "k", nil))
		if !errors.Is(err, playbook.ErrConflict) || playbook.Classify(err) != playbook.ClassPermanent {
			t.Fatalf("err = %v, want a permanent ErrConflict", err)
		}
		if len(p.Sessions("alice")) != 2 {
			t.Fatal("the conflicting request revoked sessions")
		}
	})
	t.Run("reuse for another subject is a conflict", func(t *testing.T) {
		_, err := disable.Execute(t.Context(), req(p, "bob", "k", nil))
		if !errors.Is(err, playbook.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("a failed call does not consume its key", func(t *testing.T) {
		require.NoError(t, p.Fail(playbook.ActionRevokeSessions, playbook.ErrUnavailable, 1))
		_, err := revoke.Execute(t.Context(), req(p, "alice", "k-revoke", nil))
		if !errors.Is(err, playbook.ErrUnavailable) {
			t.Fatalf("err = %v, want the injected ErrUnavailable", err)
		}
		res, err := revoke.Execute(t.Context(), req(p, "alice", "k-revoke", nil))
		if err != nil || res.Status != playbook.StatusApplied {
			t.Fatalf("retry = %+v, %v; want applied", res, err)
		}
	})
	t.Run("plan ignores keys", func(t *testing.T) {
		pl, _ := playbook.AsPlanner(disable)
		res, err := pl.Plan(t.Context(), req(p, "alice", "k", nil))
		if err != nil || res.Status != playbook.StatusDryRun || res.Detail != "would disable user alice" {
			t.Fatalf("Plan = %+v, %v; want dry-run from the current state", res, err)
		}
	})
}

func TestUndoBadPrior(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	a, _ := p.Action(playbook.ActionRemoveRole)
	u, _ := playbook.AsUndoer(a)
	for name, prior := range map[string]json.RawMessage{
		"empty":      nil,
		"not json":   json.RawMessage(`{`),
		"wrong kind": json.RawMessage(`{"assignments":[{"id":""}]}`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := u.Undo(t.Context(), req(p, "alice", "u-"+name, nil), playbook.ActionResult{Status: playbook.StatusApplied, Prior: prior})
			if !errors.Is(err, playbook.ErrInvalidRequest) {
				t.Fatalf("err = %v, want ErrInvalidRequest", err)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	p := fake.New()
	var wg sync.WaitGroup
	const users = 20
	for i := range users {
		wg.Go(func() {
			id := fmt.Sprintf("u%d", i)
			if err := p.AddUser(fake.User{ID: id}); err != nil {
				t.Error(err)
				return
			}
			if _, err := p.AddSession(id, playbook.Session{}); err != nil {
				t.Error(err)
			}
			if _, err := p.AssignRole(id, "user-admin", ""); err != nil {
				t.Error(err)
			}
			for name, a := range p.Actions() {
				params := map[string]string{"role": "user-admin", "group": "none"}
				if name == playbook.ActionRemoveGroupMember {
					continue
				}
				for attempt := range 3 {
					r := playbook.ActionRequest{IdempotencyKey: id + name, Subject: p.Subject(id), Params: params, Attempt: attempt + 1}
					if _, err := a.Execute(t.Context(), r); err != nil {
						t.Error(err)
					}
				}
			}
			c := playbook.NewCase("r", playbook.Event{Subject: p.Subject(id)})
			for _, e := range p.Enrichers() {
				if err := e.Enrich(t.Context(), c); err != nil {
					t.Error(err)
				}
			}
			_ = p.Calls()
		})
	}
	wg.Wait()
	// Five actions per user apply once each, whatever the interleaving.
	if got := p.WriteCount(fake.AnyOp); got != users*5 {
		t.Fatalf("WriteCount = %d, want %d", got, users*5)
	}
}
