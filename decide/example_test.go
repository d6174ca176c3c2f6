package decide_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func exampleCase(typ playbook.EventType, risk playbook.RiskLevel, facts playbook.Facts) *playbook.Case {
	c := playbook.NewCase("run-1", playbook.Event{
		Type:    typ,
		Subject: playbook.Subject{Provider: "entra", ID: "u-1", Login: "dana@example.com"},
		Risk:    risk,
	})
	c.Facts = facts
	c.Now = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	return c
}

func ExampleMatrix() {
	m, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	if err != nil {
		fmt.Println(err)
		return
	}
	admin := []playbook.Role{{ID: "a1", Name: "Global Administrator", Template: decide.EntraGlobalAdministrator}}
	grant := exampleCase(playbook.EventRoleAssigned, playbook.RiskNone, playbook.Facts{})
	grant.Event.Attributes = map[string]string{"role": decide.EntraGlobalAdministrator}
	for _, c := range []*playbook.Case{
		exampleCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard}),
		exampleCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Roles: admin}),
		exampleCase(playbook.EventRiskySignIn, playbook.RiskLow, playbook.Facts{Risk: playbook.RiskHigh}),
		exampleCase(playbook.EventRiskyUser, playbook.RiskMedium, playbook.Facts{Privilege: playbook.PrivilegeStandard}),
		grant,
	} {
		d, err := m.Decide(context.Background(), c)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%-28s %-8s %v\n", d.Rule, d.Response, d.Steps)
	}
	// Output:
	// matrix/high-standard         contain  [{disable-user map[]} {revoke-sessions map[]}]
	// matrix/high-privileged       approve  [{disable-user map[]} {revoke-sessions map[]}]
	// matrix/high-unknown          approve  [{disable-user map[]} {revoke-sessions map[]}]
	// matrix/medium-standard       monitor  []
	// matrix/role-assigned         approve  [{remove-role map[role:62e90394-69f5-4237-9190-012177145e10]}]
}

func ExampleNewRules() {
	p, err := decide.NewRules([]decide.Rule{
		{
			Name:     "service-accounts",
			When:     decide.And(decide.HasTag("service-account"), decide.RiskAtLeast(playbook.RiskMedium)),
			Decision: playbook.Decision{Response: playbook.RespondEscalate},
		},
		{
			Name: "leaked-credentials",
			When: decide.EventType(playbook.EventCredentialCompromise),
			Decision: playbook.Decision{Response: playbook.RespondContain, Steps: []playbook.Step{
				{Action: playbook.ActionResetCredentials}, {Action: playbook.ActionRevokeSessions},
			}},
		},
	}, decide.Rule{Name: "default", Decision: playbook.Decision{Response: playbook.RespondLog}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range []*playbook.Case{
		exampleCase(playbook.EventCredentialCompromise, playbook.RiskHigh, playbook.Facts{Tags: []string{"service-account"}}),
		exampleCase(playbook.EventCredentialCompromise, playbook.RiskHigh, playbook.Facts{}),
		exampleCase(playbook.EventRiskySignIn, playbook.RiskLow, playbook.Facts{}),
	} {
		d, _ := p.Decide(context.Background(), c)
		fmt.Printf("%s: %s (%s)\n", d.Rule, d.Response, d.Reason)
	}
	fmt.Println(p.ActionNames())

	_, err = decide.NewRules(nil, decide.Rule{})
	fmt.Println(err)
	// Output:
	// service-accounts: escalate (rule service-accounts: (tag service-account && risk>=medium))
	// leaked-credentials: contain (rule leaked-credentials: type in [risk.credential_compromise])
	// default: log (rule default: no earlier rule matched)
	// [reset-credentials revoke-sessions]
	// decide: fallback is required: NewRules needs a default rule so that no case is undecided
}

func ExampleProtect() {
	m, _ := decide.Matrix(decide.MatrixConfig{})
	p, err := decide.Protect(m, decide.ProtectConfig{Accounts: []string{"BREAKGLASS@example.com"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := exampleCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard})
	c.Event.Subject.Login = "breakglass@example.com"
	d, _ := p.Decide(context.Background(), c)
	fmt.Println(d.Rule, d.Response, len(d.Steps))
	fmt.Println(d.Notes[0])
	// Output:
	// protect/break-glass escalate 0
	// protect: account "BREAKGLASS@example.com" is in the protected list; rule "matrix/high-standard" asked for contain (disable-user, revoke-sessions), escalated instead
}

func ExampleBudget() {
	m, _ := decide.Matrix(decide.MatrixConfig{})
	p, err := decide.Budget(m, decide.BudgetConfig{Max: 2, Window: time.Hour})
	if err != nil {
		fmt.Println(err)
		return
	}
	for i := range 4 {
		c := exampleCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard})
		// Three events a minute apart, then one after the window.
		c.Now = c.Now.Add(time.Duration(i) * time.Minute)
		if i == 3 {
			c.Now = c.Now.Add(time.Hour)
		}
		d, _ := p.Decide(context.Background(), c)
		fmt.Println(d.Rule, d.Response, d.Notes)
	}
	_, err = decide.Budget(m, decide.BudgetConfig{Window: time.Hour})
	fmt.Println(err)
	// Output:
	// matrix/high-standard contain []
	// matrix/high-standard contain []
	// budget/exceeded approve [budget: 2 automatic containments in the last 1h0m0s (max 2); rule "matrix/high-standard" asked for contain, approval required]
	// matrix/high-standard contain []
	// decide: BudgetConfig.Max is 0; it must be at least 1 (to forbid automatic containment, configure the policy to ask for approval)
}

func ExampleDefaultPolicy() {
	p := decide.DefaultPolicy()
	c := exampleCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard, Tags: []string{"break-glass"}})
	d, _ := p.Decide(context.Background(), c)
	fmt.Println(d.Rule, d.Response)
	// Output:
	// protect/break-glass escalate
}

func ExamplePrivilegeEnricher() {
	e, err := decide.PrivilegeEnricher(decide.DefaultPrivilegedRoles())
	if err != nil {
		fmt.Println(err)
		return
	}
	c := exampleCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{
		Roles: []playbook.Role{{ID: "r1", Name: "Super Administrator", Template: decide.OktaSuperAdmin}},
	})
	if err := e.Enrich(context.Background(), c); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Snapshot().Privilege)
	// Output:
	// privileged
}

func ExampleRoleSet_Classify() {
	s, _ := decide.NewRoleSet([]string{"Helpdesk Administrator", decide.OktaUserAdmin})
	for _, f := range []playbook.Facts{
		{Roles: []playbook.Role{{Name: "helpdesk administrator"}}},
		{Roles: []playbook.Role{{Name: "Reports Reader"}}},
		{},
	} {
		fmt.Println(s.Classify(&f))
	}
	// Output:
	// privileged
	// standard
	// unknown
}
