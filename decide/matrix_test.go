package decide_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestMatrixCells(t *testing.T) {
	t.Parallel()
	m, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	const (
		priv = playbook.PrivilegePrivileged
		std  = playbook.PrivilegeStandard
		unk  = playbook.PrivilegeUnknown
	)
	tests := []struct {
		name      string
		eventRisk playbook.RiskLevel
		factsRisk playbook.RiskLevel
		privilege playbook.Privilege
		wantResp  playbook.Response
		wantRule  string
	}{
		{"high privileged", playbook.RiskHigh, playbook.RiskNone, priv, playbook.RespondApprove, decide.RuleHighPrivileged},
		{"high standard", playbook.RiskHigh, playbook.RiskNone, std, playbook.RespondContain, decide.RuleHighStandard},
		{"high unknown is approval, never automatic", playbook.RiskHigh, playbook.RiskNone, unk, playbook.RespondApprove, decide.RuleHighUnknown},
		{"medium privileged", playbook.RiskMedium, playbook.RiskNone, priv, playbook.RespondMonitor, decide.RuleMediumPrivileged},
		{"medium standard", playbook.RiskMedium, playbook.RiskNone, std, playbook.RespondMonitor, decide.RuleMediumStandard},
		{"medium unknown", playbook.RiskMedium, playbook.RiskNone, unk, playbook.RespondMonitor, decide.RuleMediumUnknown},
		{"low privileged", playbook.RiskLow, playbook.RiskNone, priv, playbook.RespondLog, decide.RuleLowPrivileged},
		{"low standard", playbook.RiskLow, playbook.RiskNone, std, playbook.RespondLog, decide.RuleLowStandard},
		{"low unknown", playbook.RiskLow, playbook.RiskNone, unk, playbook.RespondLog, decide.RuleLowUnknown},
		{"none privileged", playbook.RiskNone, playbook.RiskNone, priv, playbook.RespondLog, decide.RuleLowPrivileged},
		{"none standard", playbook.RiskNone, playbook.RiskNone, std, playbook.RespondLog, decide.RuleLowStandard},
		{"none unknown", playbook.RiskNone, playbook.RiskNone, unk, playbook.RespondLog, decide.RuleLowUnknown},
		{"facts risk raises a low event to high", playbook.RiskLow, playbook.RiskHigh, std, playbook.RespondContain, decide.RuleHighStandard},
		{"facts risk raises a none event to medium", playbook.RiskNone, playbook.RiskMedium, priv, playbook.RespondMonitor, decide.RuleMediumPrivileged},
		{"lower facts risk does not lower the event's", playbook.RiskHigh, playbook.RiskLow, std, playbook.RespondContain, decide.RuleHighStandard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decideOK(t, m, newCase(playbook.EventRiskySignIn, tt.eventRisk, playbook.Facts{Risk: tt.factsRisk, Privilege: tt.privilege}))
			if d.Response != tt.wantResp || d.Rule != tt.wantRule {
				t.Fatalf("got %s/%s, want %s/%s", d.Rule, d.Response, tt.wantRule, tt.wantResp)
			}
			var wantSteps []playbook.Step
			if tt.wantResp == playbook.RespondContain || tt.wantResp == playbook.RespondApprove {
				wantSteps = containment
			}
			if !reflect.DeepEqual(d.Steps, wantSteps) {
				t.Errorf("steps = %+v, want %+v", d.Steps, wantSteps)
			}
			if d.Reason == "" {
				t.Error("no reason")
			}
		})
	}
}

func TestMatrixPrivilegeEvents(t *testing.T) {
	t.Parallel()
	m, err := decide.Matrix(decide.MatrixConfig{Approval: "security-leads"})
	require.NoError(t, err)
	removeRole := playbook.Step{Action: playbook.ActionRemoveRole, Params: map[string]string{"role": decide.EntraGlobalAdministrator}}
	removeGroup := playbook.Step{Action: playbook.ActionRemoveGroupMember, Params: map[string]string{"group": "g-admins"}}
	tests := []struct {
		name      string
		typ       playbook.EventType
		risk      playbook.RiskLevel
		privilege playbook.Privilege
		attrs     map[string]string
		wantResp  playbook.Response
		wantRule  string
		wantSteps []playbook.Step
	}{
		{"role assigned, no risk", playbook.EventRoleAssigned, playbook.RiskNone, playbook.PrivilegeStandard,
			map[string]string{"role": decide.EntraGlobalAdministrator}, playbook.RespondApprove, decide.RuleRoleAssigned, []playbook.Step{removeRole}},
		{"role assigned, medium risk, privilege unknown", playbook.EventRoleAssigned, playbook.RiskMedium, playbook.PrivilegeUnknown,
			map[string]string{"role": " " + decide.EntraGlobalAdministrator + " "}, playbook.RespondApprove, decide.RuleRoleAssigned, []playbook.Step{removeRole}},
		{"role assigned to a high-risk subject", playbook.EventRoleAssigned, playbook.RiskHigh, playbook.PrivilegeStandard,
			map[string]string{"role": decide.EntraGlobalAdministrator}, playbook.RespondApprove, decide.RuleRoleAssignedHighRisk, append([]playbook.Step{removeRole}, containment...)},
		{"role assigned without role attribute", playbook.EventRoleAssigned, playbook.RiskHigh, playbook.PrivilegeStandard,
			map[string]string{"group": "g"}, playbook.RespondEscalate, decide.RuleRoleAssignedIncomplete, nil},
		{"group added, low risk", playbook.EventPrivilegedGroupAdded, playbook.RiskLow, playbook.PrivilegePrivileged,
			map[string]string{"group": "g-admins"}, playbook.RespondApprove, decide.RuleGroupAdded, []playbook.Step{removeGroup}},
		{"group added to a high-risk subject", playbook.EventPrivilegedGroupAdded, playbook.RiskHigh, playbook.PrivilegeStandard,
			map[string]string{"group": "g-admins"}, playbook.RespondApprove, decide.RuleGroupAddedHighRisk, append([]playbook.Step{removeGroup}, containment...)},
		{"group added without group attribute", playbook.EventPrivilegedGroupAdded, playbook.RiskLow, playbook.PrivilegeStandard,
			nil, playbook.RespondEscalate, decide.RuleGroupAddedIncomplete, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCase(tt.typ, tt.risk, playbook.Facts{Privilege: tt.privilege})
			c.Event.Attributes = tt.attrs
			d := decideOK(t, m, c)
			if d.Response != tt.wantResp || d.Rule != tt.wantRule {
				t.Fatalf("got %s/%s, want %s/%s", d.Rule, d.Response, tt.wantRule, tt.wantResp)
			}
			if !reflect.DeepEqual(d.Steps, tt.wantSteps) {
				t.Errorf("steps = %+v, want %+v", d.Steps, tt.wantSteps)
			}
			wantApproval := ""
			if tt.wantResp == playbook.RespondApprove {
				wantApproval = "security-leads"
			}
			if d.Approval != wantApproval {
				t.Errorf("approval = %q, want %q", d.Approval, wantApproval)
			}
		})
	}
}

func TestMatrixConfiguredCells(t *testing.T) {
	t.Parallel()
	reset := []playbook.Step{{Action: playbook.ActionRevokeSessions}, {Action: playbook.ActionResetCredentials}}
	m, err := decide.Matrix(decide.MatrixConfig{
		Containment:      reset,
		HighPrivileged:   playbook.RespondContain,
		MediumPrivileged: playbook.RespondApprove,
		MediumStandard:   playbook.RespondContain,
		LowStandard:      playbook.RespondMonitor,
		PrivilegeGrant:   playbook.RespondContain,
	})
	require.NoError(t, err)
	tests := []struct {
		name      string
		typ       playbook.EventType
		risk      playbook.RiskLevel
		privilege playbook.Privilege
		wantResp  playbook.Response
		wantRule  string
		wantSteps int
	}{
		{"configured contain for privileged", playbook.EventRiskyUser, playbook.RiskHigh, playbook.PrivilegePrivileged, playbook.RespondContain, decide.RuleHighPrivileged, 2},
		{"unknown never contained even when privileged is", playbook.EventRiskyUser, playbook.RiskHigh, playbook.PrivilegeUnknown, playbook.RespondApprove, decide.RuleHighUnknown, 2},
		{"medium privileged approval", playbook.EventRiskyUser, playbook.RiskMedium, playbook.PrivilegePrivileged, playbook.RespondApprove, decide.RuleMediumPrivileged, 2},
		{"medium unknown follows privileged", playbook.EventRiskyUser, playbook.RiskMedium, playbook.PrivilegeUnknown, playbook.RespondApprove, decide.RuleMediumUnknown, 2},
		{"medium standard contain", playbook.EventRiskyUser, playbook.RiskMedium, playbook.PrivilegeStandard, playbook.RespondContain, decide.RuleMediumStandard, 2},
		{"low standard monitor", playbook.EventRiskyUser, playbook.RiskLow, playbook.PrivilegeStandard, playbook.RespondMonitor, decide.RuleLowStandard, 0},
		{"automatic grant removal", playbook.EventRoleAssigned, playbook.RiskLow, playbook.PrivilegeStandard, playbook.RespondContain, decide.RuleRoleAssigned, 1},
		{"high-risk grant follows high-privileged cell", playbook.EventRoleAssigned, playbook.RiskHigh, playbook.PrivilegeStandard, playbook.RespondContain, decide.RuleRoleAssignedHighRisk, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCase(tt.typ, tt.risk, playbook.Facts{Privilege: tt.privilege})
			c.Event.Attributes = map[string]string{"role": "r1"}
			d := decideOK(t, m, c)
			if d.Response != tt.wantResp || d.Rule != tt.wantRule || len(d.Steps) != tt.wantSteps {
				t.Fatalf("got %s/%s with %d steps, want %s/%s with %d", d.Rule, d.Response, len(d.Steps), tt.wantRule, tt.wantResp, tt.wantSteps)
			}
			if tt.wantSteps == 2 && !reflect.DeepEqual(d.Steps, reset) {
				t.Errorf("steps = %+v, want the configured containment", d.Steps)
			}
		})
	}
	want := []string{playbook.ActionRemoveGroupMember, playbook.ActionRemoveRole, playbook.ActionResetCredentials, playbook.ActionRevokeSessions}
	if got := m.ActionNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("ActionNames = %v, want %v", got, want)
	}
}

func TestMatrixPrivilegeFromRoles(t *testing.T) {
	t.Parallel()
	m, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	require.NoError(t, err)
	tests := []struct {
		name     string
		facts    playbook.Facts
		wantRule string
	}{
		{"Entra template id makes a standard subject privileged", playbook.Facts{Privilege: playbook.PrivilegeStandard,
			Roles: []playbook.Role{{ID: "a1", Name: "Global Administrator", Template: decide.EntraGlobalAdministrator}}}, decide.RuleHighPrivileged},
		{"Okta role type, case-insensitive", playbook.Facts{Roles: []playbook.Role{{ID: "a1", Template: "super_admin"}}}, decide.RuleHighPrivileged},
		{"unprivileged roles known: standard", playbook.Facts{Roles: []playbook.Role{{ID: "a1", Name: "Reports Reader", Template: "4a5d8f65-41da-4de4-8968-e035b65339cf"}}}, decide.RuleHighStandard},
		{"no roles, no privilege: unknown", playbook.Facts{}, decide.RuleHighUnknown},
		{"no roles, enricher said standard", playbook.Facts{Privilege: playbook.PrivilegeStandard}, decide.RuleHighStandard},
		{"enricher said privileged, roles do not lower it", playbook.Facts{Privilege: playbook.PrivilegePrivileged,
			Roles: []playbook.Role{{ID: "a1", Name: "Reports Reader"}}}, decide.RuleHighPrivileged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decideOK(t, m, newCase(playbook.EventRiskyUser, playbook.RiskHigh, tt.facts))
			if d.Rule != tt.wantRule {
				t.Errorf("rule = %s, want %s", d.Rule, tt.wantRule)
			}
		})
	}
}

func TestMatrixErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     decide.MatrixConfig
		wantErr string
	}{
		{"unknown cell response", decide.MatrixConfig{HighStandard: "lockout"}, `MatrixConfig.HighStandard: unknown response "lockout"`},
		{"unknown grant response", decide.MatrixConfig{PrivilegeGrant: "revert"}, `MatrixConfig.PrivilegeGrant: unknown response "revert"`},
		{"step without action", decide.MatrixConfig{Containment: []playbook.Step{{Action: "disable-user"}, {Action: " "}}}, "MatrixConfig.Containment[1].Action is empty"},
		{"empty privileged role", decide.MatrixConfig{PrivilegedRoles: []string{"SUPER_ADMIN", ""}}, "MatrixConfig.PrivilegedRoles: decide: privileged role list entry 1 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := decide.Matrix(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			if m != nil {
				t.Error("policy returned with an error")
			}
		})
	}
}

func TestMatrixBadCase(t *testing.T) {
	t.Parallel()
	m, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	tests := []struct {
		name    string
		c       *playbook.Case
		wantErr string
	}{
		{"nil case", nil, "nil case"},
		{"event risk out of range", newCase(playbook.EventRiskyUser, playbook.RiskLevel(9), playbook.Facts{}), "event risk 9 is not a risk level"},
		{"facts risk out of range", newCase(playbook.EventRiskyUser, playbook.RiskLow, playbook.Facts{Risk: -1}), "facts risk -1 is not a risk level"},
		{"privilege out of range", newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Privilege: 5}), "facts privilege 5 is not a privilege level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := m.Decide(t.Context(), tt.c)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestMatrixDecisionsAreCopies(t *testing.T) {
	t.Parallel()
	m, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard})
	d := decideOK(t, m, c)
	d.Steps[0].Action = "tampered"
	if d2 := decideOK(t, m, c); d2.Steps[0].Action != playbook.ActionDisableUser {
		t.Fatalf("decision shared with the policy: %+v", d2)
	}
	want := []string{playbook.ActionDisableUser, playbook.ActionRemoveGroupMember, playbook.ActionRemoveRole, playbook.ActionRevokeSessions}
	if got := m.ActionNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("ActionNames = %v, want %v", got, want)
	}
}
