package entra_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
	"github.com/iamplaybook/iamplaybook/providers/providertest"
)

// TestConformance runs the provider conformance suite against the client
// talking HTTP to a fresh emulator per case.
func TestConformance(t *testing.T) {
	t.Parallel()
	providertest.Run(t, providertest.Harness{
		Provider: entra.ProviderName,
		New:      newEnv,
		Skip: map[string]string{
			"RevokeSessions": "Graph exposes no session list, so revoke-sessions cannot know that no session remains: " +
				"every new key revokes again (harmless); TestRevokeSessions checks the rest",
		},
	})
}

func newEnv(t *testing.T) *providertest.Env {
	emu := entratest.New(entratest.Options{})
	emu.Start()
	t.Cleanup(emu.Close)
	const clientID, secret = "11111111-2222-3333-4444-555555555555", "conformance-secret"
	mustOK(t, emu.AddSecretApp(clientID, secret))
	group, err := emu.AddGroup(entratest.Group{DisplayName: "Tier 0 Operators"})
	mustOK(t, err)
	c, err := entra.New(entra.Config{TenantID: emu.TenantID(), ClientID: clientID, ClientSecret: secret,
		GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL(), PrivilegedGroups: []string{group}})
	mustOK(t, err)
	n := 0
	user := func(t *testing.T, s playbook.Subject) entratest.User {
		u, ok := emu.User(s.ID)
		if !ok {
			t.Fatalf("the emulator has no user %s", s.ID)
		}
		return u
	}
	return &providertest.Env{
		Actions:   c.Actions(),
		Enrichers: c.Enrichers(),
		Role:      entratest.GlobalAdministrator,
		Group:     group,
		NewUser: func(t *testing.T, spec providertest.UserSpec) playbook.Subject {
			n++
			login := "user" + strconv.Itoa(n) + "@contoso.example"
			id, err := emu.AddUser(entratest.User{UserPrincipalName: login, DisplayName: "User " + strconv.Itoa(n), Disabled: spec.Disabled, Sessions: spec.Sessions})
			mustOK(t, err)
			// Every account starts at low risk, so that the risk actions
			// have something to change.
			mustOK(t, emu.SetRiskyUser(entratest.RiskyUser{ID: id, RiskLevel: "low", RiskState: "atRisk"}))
			if spec.Privileged {
				_, err := emu.AssignRole(id, entratest.GlobalAdministrator)
				mustOK(t, err)
			}
			if spec.InGroup {
				mustOK(t, emu.AddMember(group, id))
			}
			return playbook.Subject{Provider: entra.ProviderName, ID: id, Login: login}
		},
		UserEnabled:  func(t *testing.T, s playbook.Subject) bool { return !user(t, s).Disabled },
		HasRole:      func(_ *testing.T, s playbook.Subject, role string) bool { return emu.HasRole(s.ID, role) },
		InGroup:      func(_ *testing.T, s playbook.Subject, g string) bool { return emu.IsMember(g, s.ID) },
		SessionCount: func(t *testing.T, s playbook.Subject) int { return user(t, s).Sessions },
		InjectThrottle: func(_ *testing.T, _ string, retryAfter time.Duration) {
			emu.FailNext(entratest.Fault{PathContains: "/users/", Status: 429, RetryAfter: strconv.FormatFloat(retryAfter.Seconds(), 'f', -1, 64)})
		},
		InjectPermissionDenied: func(_ *testing.T, _ string) {
			emu.FailNext(entratest.Fault{PathContains: "/users/", Status: 403})
		},
		WriteCount: func(*testing.T) int { return emu.Writes() },
	}
}

func mustOK(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
