package decide_test

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestDefaultPrivilegedRoles(t *testing.T) {
	t.Parallel()
	roles := decide.DefaultPrivilegedRoles()
	for _, want := range []string{
		"62e90394-69f5-4237-9190-012177145e10", "e8611ab8-c189-46e8-94e1-60213ab1f814", "194ae4cb-b126-40b2-bd5b-6091b380977d",
		"7be44c8a-adaf-4e2a-84d6-ab2649e08a13", "fe930be7-5e62-47db-91af-98c3a49a38b1", "29232cdf-9323-42fd-ade2-1d097af3e4de",
		"9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", "c4e39bd9-1100-46d3-8c65-fb160da0071f", "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
		"8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", "158c047a-c907-4556-b7ef-446551a6b5f7",
		"SUPER_ADMIN", "ORG_ADMIN", "APP_ADMIN", "USER_ADMIN", "GROUP_MEMBERSHIP_ADMIN", "API_ACCESS_MANAGEMENT_ADMIN",
	} {
		if !slices.Contains(roles, want) {
			t.Errorf("DefaultPrivilegedRoles lacks %s", want)
		}
	}
	if len(roles) != 17 {
		t.Errorf("len = %d, want 17", len(roles))
	}
	roles[0] = "changed"
	if decide.DefaultPrivilegedRoles()[0] != decide.EntraGlobalAdministrator {
		t.Error("DefaultPrivilegedRoles returns a shared slice")
	}
}

func TestClassifyPrivilege(t *testing.T) {
	t.Parallel()
	list := []string{decide.EntraGlobalAdministrator, "Helpdesk Administrator", decide.OktaSuperAdmin}
	tests := []struct {
		name  string
		facts playbook.Facts
		want  playbook.Privilege
	}{
		{"template id", playbook.Facts{Roles: []playbook.Role{{Template: "62E90394-69F5-4237-9190-012177145E10"}}}, playbook.PrivilegePrivileged},
		{"display name, case-insensitive", playbook.Facts{Roles: []playbook.Role{{Name: "Reader"}, {Name: "helpdesk administrator"}}}, playbook.PrivilegePrivileged},
		{"Okta role type", playbook.Facts{Roles: []playbook.Role{{Template: "SUPER_ADMIN"}}}, playbook.PrivilegePrivileged},
		{"role id alone does not match", playbook.Facts{Roles: []playbook.Role{{ID: decide.EntraGlobalAdministrator, Name: "x"}}}, playbook.PrivilegeStandard},
		{"roles raise an enricher's standard", playbook.Facts{Privilege: playbook.PrivilegeStandard, Roles: []playbook.Role{{Template: "SUPER_ADMIN"}}}, playbook.PrivilegePrivileged},
		{"enricher's privileged kept", playbook.Facts{Privilege: playbook.PrivilegePrivileged, Roles: []playbook.Role{{Name: "Reader"}}}, playbook.PrivilegePrivileged},
		{"unprivileged roles: standard", playbook.Facts{Roles: []playbook.Role{{Name: "Reader"}}}, playbook.PrivilegeStandard},
		{"no roles, enricher's standard kept", playbook.Facts{Privilege: playbook.PrivilegeStandard}, playbook.PrivilegeStandard},
		{"no roles, nothing known: unknown", playbook.Facts{}, playbook.PrivilegeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := decide.ClassifyPrivilege(&tt.facts, list)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestClassifyPrivilegeErrors(t *testing.T) {
	t.Parallel()
	_, err := decide.ClassifyPrivilege(&playbook.Facts{}, nil)
	require.ErrorContains(t, err, "privileged role list is empty")
	_, err = decide.ClassifyPrivilege(&playbook.Facts{}, []string{"a", " "})
	require.ErrorContains(t, err, "entry 1 is empty")
	_, err = decide.ClassifyPrivilege(nil, []string{"a"})
	require.ErrorContains(t, err, "nil facts")
	_, err = decide.PrivilegeEnricher(nil)
	require.ErrorContains(t, err, "privileged role list is empty")
}

func TestPrivilegeEnricher(t *testing.T) {
	t.Parallel()
	e, err := decide.PrivilegeEnricher(decide.DefaultPrivilegedRoles())
	require.NoError(t, err)
	tests := []struct {
		name  string
		roles []playbook.Role
		want  playbook.Privilege
	}{
		{"privileged role", []playbook.Role{{Name: "Exchange Administrator", Template: decide.EntraExchangeAdministrator}}, playbook.PrivilegePrivileged},
		{"other role", []playbook.Role{{Name: "Reports Reader"}}, playbook.PrivilegeStandard},
		{"no roles", nil, playbook.PrivilegeUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Roles: tt.roles})
			if err := e.Enrich(t.Context(), c); err != nil {
				t.Fatal(err)
			}
			if got := c.Snapshot().Privilege; got != tt.want {
				t.Errorf("privilege = %v, want %v", got, tt.want)
			}
		})
	}
	if err := e.Enrich(t.Context(), nil); err == nil {
		t.Error("nil case: no error")
	}
}
