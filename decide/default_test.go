package decide_test

import (
	"reflect"
	"testing"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestDefaultPolicy(t *testing.T) {
	t.Parallel()
	ga := []playbook.Role{{ID: "a1", Name: "Global Administrator", Template: decide.EntraGlobalAdministrator}}
	tests := []struct {
		name     string
		typ      playbook.EventType
		risk     playbook.RiskLevel
		facts    playbook.Facts
		attrs    map[string]string
		wantResp playbook.Response
		wantRule string
	}{
		{"high standard contained", playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard}, nil, playbook.RespondContain, decide.RuleHighStandard},
		{"high with admin role needs approval", playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard, Roles: ga}, nil, playbook.RespondApprove, decide.RuleHighPrivileged},
		{"high unknown needs approval", playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{}, nil, playbook.RespondApprove, decide.RuleHighUnknown},
		{"high break-glass tag escalated", playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard, Tags: []string{"break-glass"}}, nil, playbook.RespondEscalate, decide.RuleProtect},
		{"high protected escalated", playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard, Protected: true}, nil, playbook.RespondEscalate, decide.RuleProtect},
		{"medium monitored", playbook.EventRiskyUser, playbook.RiskMedium, playbook.Facts{Privilege: playbook.PrivilegeStandard}, nil, playbook.RespondMonitor, decide.RuleMediumStandard},
		{"low logged", playbook.EventRiskyUser, playbook.RiskLow, playbook.Facts{Privilege: playbook.PrivilegePrivileged}, nil, playbook.RespondLog, decide.RuleLowPrivileged},
		{"role grant approval", playbook.EventRoleAssigned, playbook.RiskNone, playbook.Facts{}, map[string]string{"role": "r"}, playbook.RespondApprove, decide.RuleRoleAssigned},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newCase(tt.typ, tt.risk, tt.facts)
			c.Event.Attributes = tt.attrs
			d := decideOK(t, decide.DefaultPolicy(), c)
			if d.Response != tt.wantResp || d.Rule != tt.wantRule {
				t.Fatalf("got %s/%s, want %s/%s", d.Rule, d.Response, tt.wantRule, tt.wantResp)
			}
		})
	}
}

func TestDefaultPolicyBudget(t *testing.T) {
	t.Parallel()
	p := decide.DefaultPolicy()
	contained := 0
	for range decide.DefaultBudgetMax + 5 {
		d := decideOK(t, p, newCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard}))
		if d.Response == playbook.RespondContain {
			contained++
		} else if d.Rule != decide.RuleBudgetExceeded {
			t.Fatalf("unexpected decision %+v", d)
		}
	}
	if contained != decide.DefaultBudgetMax {
		t.Errorf("contained %d, want %d", contained, decide.DefaultBudgetMax)
	}
	n, ok := p.(playbook.ActionNamer)
	want := []string{playbook.ActionDisableUser, playbook.ActionRemoveGroupMember, playbook.ActionRemoveRole, playbook.ActionRevokeSessions}
	if !ok || !reflect.DeepEqual(n.ActionNames(), want) {
		t.Errorf("ActionNames: ok=%v", ok)
	}
}
