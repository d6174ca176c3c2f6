package decide_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func sampleRules() []decide.Rule {
	return []decide.Rule{
		{Name: "vip", When: decide.HasTag("vip"), Decision: playbook.Decision{Response: playbook.RespondEscalate}},
		{Name: "high", When: decide.RiskAtLeast(playbook.RiskHigh), Decision: playbook.Decision{
			Response: playbook.RespondContain, Steps: []playbook.Step{{Action: playbook.ActionRevokeSessions}}, Reason: "high risk"}},
		{Name: "high-again", When: decide.RiskAtLeast(playbook.RiskHigh), Decision: playbook.Decision{Response: playbook.RespondMonitor}},
		{Name: "medium", When: decide.RiskAtLeast(playbook.RiskMedium), Decision: playbook.Decision{Response: playbook.RespondMonitor}},
	}
}

var logFallback = decide.Rule{Name: "default", Decision: playbook.Decision{Response: playbook.RespondLog}}

func TestRulesFirstMatch(t *testing.T) {
	t.Parallel()
	p, err := decide.NewRules(sampleRules(), logFallback)
	require.NoError(t, err)
	tests := []struct {
		name     string
		risk     playbook.RiskLevel
		tags     []string
		wantRule string
		wantResp playbook.Response
	}{
		{"earlier rule wins over later match", playbook.RiskHigh, []string{"VIP"}, "vip", playbook.RespondEscalate},
		{"first of two equal predicates wins", playbook.RiskHigh, nil, "high", playbook.RespondContain},
		{"medium", playbook.RiskMedium, nil, "medium", playbook.RespondMonitor},
		{"nothing matches: fallback", playbook.RiskLow, nil, "default", playbook.RespondLog},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d := decideOK(t, p, newCase(playbook.EventRiskySignIn, tt.risk, playbook.Facts{Tags: tt.tags}))
			if d.Rule != tt.wantRule || d.Response != tt.wantResp {
				t.Errorf("got %s/%s, want %s/%s", d.Rule, d.Response, tt.wantRule, tt.wantResp)
			}
			if d.Reason == "" {
				t.Error("decision has no reason")
			}
		})
	}
}

func TestRulesReasonAndIsolation(t *testing.T) {
	t.Parallel()
	rules := sampleRules()
	p, err := decide.NewRules(rules, logFallback)
	require.NoError(t, err)
	// The caller's slice is copied: changing it does not change the policy.
	rules[1].Decision.Steps[0].Action = "tampered"
	c := newCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{})
	d := decideOK(t, p, c)
	if d.Steps[0].Action != playbook.ActionRevokeSessions || d.Reason != "high risk" {
		t.Fatalf("got %+v", d)
	}
	// A returned decision is a copy: changing it does not change the next.
	d.Steps[0].Action = "tampered"
	if d2 := decideOK(t, p, c); d2.Steps[0].Action != playbook.ActionRevokeSessions {
		t.Fatalf("decision shared with the policy: %+v", d2)
	}
	m := decideOK(t, p, newCase(playbook.EventRiskySignIn, playbook.RiskMedium, playbook.Facts{}))
	if m.Reason != "rule medium: risk>=medium" {
		t.Errorf("reason = %q", m.Reason)
	}
	f := decideOK(t, p, newCase(playbook.EventRiskySignIn, playbook.RiskNone, playbook.Facts{}))
	if f.Reason != "rule default: no earlier rule matched" {
		t.Errorf("fallback reason = %q", f.Reason)
	}
}

func TestRulesActionNames(t *testing.T) {
	t.Parallel()
	rules := append(sampleRules(), decide.Rule{Name: "sign-in", When: decide.EventType(playbook.EventRiskySignIn), Decision: playbook.Decision{
		Response: playbook.RespondApprove, Steps: []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}}})
	fb := decide.Rule{Name: "default", Decision: playbook.Decision{Response: playbook.RespondApprove, Steps: []playbook.Step{{Action: playbook.ActionResetCredentials}}}}
	p, err := decide.NewRules(rules, fb)
	require.NoError(t, err)
	want := []string{playbook.ActionDisableUser, playbook.ActionResetCredentials, playbook.ActionRevokeSessions}
	if got := p.ActionNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("ActionNames = %v, want %v", got, want)
	}
	pb := playbook.Playbook{Name: "t", Policy: p, Audit: []playbook.AuditSink{nopSink{}}, Actions: map[string]playbook.Action{
		playbook.ActionDisableUser: nopAction(playbook.ActionDisableUser), playbook.ActionRevokeSessions: nopAction(playbook.ActionRevokeSessions)}}
	require.ErrorContains(t, pb.Validate(), `Policy names action "reset-credentials"`)
}

func TestNewRulesErrors(t *testing.T) {
	t.Parallel()
	contain := playbook.Decision{Response: playbook.RespondContain, Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}
	ok := decide.Rule{Name: "ok", When: decide.Always(), Decision: contain}
	tests := []struct {
		name     string
		rules    []decide.Rule
		fallback decide.Rule
		wantErr  string
	}{
		{"missing fallback", []decide.Rule{ok}, decide.Rule{}, "fallback is required"},
		{"fallback without name", nil, decide.Rule{Decision: contain}, "fallback.Name is empty"},
		{"fallback with a predicate", nil, decide.Rule{Name: "fb", When: decide.Always(), Decision: contain}, `fallback ("fb").When must be unset`},
		{"fallback with steps on log", nil, decide.Rule{Name: "fb", Decision: playbook.Decision{Response: playbook.RespondLog, Steps: contain.Steps}}, `fallback ("fb").Decision: playbook: rule "fb": response "log" must not carry steps`},
		{"empty rule name", []decide.Rule{ok, {When: decide.Always(), Decision: contain}}, logFallback, "rules[1].Name is empty"},
		{"duplicate rule name", []decide.Rule{ok, ok}, logFallback, `rules[1].Name "ok" is used by an earlier rule`},
		{"fallback name taken", []decide.Rule{ok}, decide.Rule{Name: "ok", Decision: contain}, `fallback.Name "ok" is used`},
		{"unset predicate", []decide.Rule{{Name: "r", Decision: contain}}, logFallback, `rules[0] ("r").When: match is unset`},
		{"invalid predicate", []decide.Rule{{Name: "r", When: decide.RiskAtLeast(8), Decision: contain}}, logFallback, `rules[0] ("r").When: RiskAtLeast: invalid risk level 8`},
		{"steps on log", []decide.Rule{{Name: "r", When: decide.Always(), Decision: playbook.Decision{Response: playbook.RespondLog, Steps: contain.Steps}}}, logFallback, `rules[0] ("r").Decision: playbook: rule "r": response "log" must not carry steps`},
		{"contain without steps", []decide.Rule{{Name: "r", When: decide.Always(), Decision: playbook.Decision{Response: playbook.RespondContain}}}, logFallback, `needs at least one step`},
		{"unknown response", []decide.Rule{{Name: "r", When: decide.Always(), Decision: playbook.Decision{Response: "nuke"}}}, logFallback, `rules[0] ("r").Decision: playbook: decision has unknown response "nuke"`},
		{"step without action", []decide.Rule{{Name: "r", When: decide.Always(), Decision: playbook.Decision{Response: playbook.RespondApprove, Steps: []playbook.Step{{}}}}}, logFallback, `step 0 names no action`},
		{"decision rule differs", []decide.Rule{{Name: "r", When: decide.Always(), Decision: playbook.Decision{Response: playbook.RespondLog, Rule: "other"}}}, logFallback, `rules[0] ("r").Decision.Rule is "other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decide.NewRules(tt.rules, tt.fallback)
			require.ErrorContains(t, err, tt.wantErr)
			if p != nil {
				t.Error("policy returned with an error")
			}
		})
	}
}

func TestRulesBadCall(t *testing.T) {
	t.Parallel()
	p, err := decide.NewRules(sampleRules(), logFallback)
	require.NoError(t, err)
	if _, err := p.Decide(t.Context(), nil); err == nil {
		t.Error("nil case: no error")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Decide(ctx, newCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{})); err != context.Canceled {
		t.Errorf("cancelled ctx: err = %v", err)
	}
	if names := p.ActionNames(); !slices.Equal(names, []string{playbook.ActionRevokeSessions}) {
		t.Errorf("ActionNames = %v", names)
	}
}
