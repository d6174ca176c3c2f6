package entra_test

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

func enrichWith(t *testing.T, s playbook.Subject, es ...playbook.Enricher) playbook.Facts {
	t.Helper()
	c := playbook.NewCase("r", playbook.Event{Type: playbook.EventRiskySignIn, Subject: s})
	for _, e := range es {
		require.NoError(t, e.Enrich(t.Context(), c))
	}
	return c.Snapshot()
}

func TestPrivilegeThroughGroups(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, emu *entratest.Emulator, user, tier0 string)
		want  playbook.Privilege
		roles int
	}{
		{"no role, no group", func(*testing.T, *entratest.Emulator, string, string) {}, playbook.PrivilegeStandard, 0},
		{"non-privileged role", func(t *testing.T, emu *entratest.Emulator, user, _ string) {
			_, err := emu.AssignRole(user, entratest.SecurityReader)
			require.NoError(t, err)
		}, playbook.PrivilegeStandard, 1},
		{"Global Administrator through a nested role-assignable group", func(t *testing.T, emu *entratest.Emulator, user, _ string) {
			outer, err := emu.AddGroup(entratest.Group{DisplayName: "GA holders", IsAssignableToRole: true})
			require.NoError(t, err)
			inner, err := emu.AddGroup(entratest.Group{DisplayName: "Ops"})
			require.NoError(t, err)
			require.NoError(t, emu.AddMember(inner, user))
			require.NoError(t, emu.AddMember(outer, inner))
			_, err = emu.AssignRole(outer, entratest.GlobalAdministrator)
			require.NoError(t, err)
		}, playbook.PrivilegePrivileged, 1},
		{"member of a configured privileged group", func(t *testing.T, emu *entratest.Emulator, user, tier0 string) {
			require.NoError(t, emu.AddMember(tier0, user))
		}, playbook.PrivilegePrivileged, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := entratest.New(entratest.Options{})
			tier0, err := emu.AddGroup(entratest.Group{DisplayName: "Tier 0"})
			require.NoError(t, err)
			f := newFixtureOn(t, emu, func(c *entra.Config) { c.PrivilegedGroups = []string{tier0} })
			s := f.user(t, "ana@contoso.example", nil)
			tc.setup(t, emu, s.ID, tier0)
			facts := enrichWith(t, s, f.c.RolesEnricher(), f.c.GroupsEnricher())
			assert.Equal(t, tc.want, facts.Privilege)
			assert.Len(t, facts.Roles, tc.roles)
			assert.True(t, facts.RolesLoaded)
		})
	}
}

func TestSignInsAndRiskEnrichers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		base := time.Now().Add(-time.Hour)
		for i, code := range []int{0, 50126, 0, 50126} {
			_, err := f.emu.AddSignIn(entratest.SignIn{UserID: s.ID, At: base.Add(time.Duration(i) * time.Minute), ErrorCode: code, City: "Berlin", Country: "DE"})
			require.NoError(t, err)
		}
		facts := enrichWith(t, s, f.c.ProfileEnricher(), f.c.SignInsEnricher(3), f.c.RiskEnricher())
		require.Len(t, facts.SignIns, 3, "the n most recent")
		assert.True(t, facts.SignIns[0].Time.Equal(base.Add(3*time.Minute)), "newest first")
		assert.False(t, facts.SignIns[0].Success)
		assert.Equal(t, "Berlin, DE", facts.SignIns[0].Location)
		assert.True(t, facts.Profile.LastSignIn.Equal(base.Add(2*time.Minute)), "the last successful sign-in")
		assert.Equal(t, playbook.RiskNone, facts.Risk, "never flagged")

		require.NoError(t, f.emu.SetRiskyUser(entratest.RiskyUser{ID: s.ID, RiskLevel: "none", RiskState: "confirmedCompromised"}))
		facts = enrichWith(t, s, f.c.RiskEnricher())
		assert.Equal(t, playbook.RiskHigh, facts.Risk)
	})
}
