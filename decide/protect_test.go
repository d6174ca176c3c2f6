package decide_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// fixed is a policy that always returns its decision (or error).
type fixed struct {
	d   playbook.Decision
	err error
}

func (f fixed) Decide(context.Context, *playbook.Case) (playbook.Decision, error) {
	return f.d.Clone(), f.err
}

var (
	containDecision = playbook.Decision{Response: playbook.RespondContain, Rule: "inner/contain", Steps: containment}
	approveDecision = playbook.Decision{Response: playbook.RespondApprove, Rule: "inner/approve", Steps: containment, Approval: "leads"}
)

func TestProtectNeverContains(t *testing.T) {
	t.Parallel()
	cfg := decide.ProtectConfig{Accounts: []string{"BG-Admin@Example.com", "u-glass", "okta:00u-bg"}, Tags: []string{"emergency"}}
	tests := []struct {
		name    string
		subject playbook.Subject
		facts   playbook.Facts
		why     string
	}{
		{"by id", playbook.Subject{Provider: "entra", ID: "U-GLASS"}, playbook.Facts{}, `"u-glass"`},
		{"by login, case-insensitive", playbook.Subject{Provider: "entra", ID: "x1", Login: "bg-admin@example.com"}, playbook.Facts{}, `"BG-Admin@Example.com"`},
		{"by key", playbook.Subject{Provider: "okta", ID: "00u-bg"}, playbook.Facts{}, `"okta:00u-bg"`},
		{"by enriched profile email", playbook.Subject{Provider: "entra", ID: "x2"}, playbook.Facts{Profile: &playbook.Profile{ID: "x2", Email: "bg-admin@example.com"}}, `"BG-Admin@Example.com"`},
		{"by Facts.Protected", playbook.Subject{Provider: "entra", ID: "x3"}, playbook.Facts{Protected: true}, "facts mark the account protected"},
		{"by default tag", playbook.Subject{Provider: "entra", ID: "x4"}, playbook.Facts{Tags: []string{"Break-Glass"}}, `tagged "break-glass"`},
		{"by configured tag", playbook.Subject{Provider: "entra", ID: "x5"}, playbook.Facts{Tags: []string{"EMERGENCY"}}, `tagged "emergency"`},
	}
	// Both a fixed contain policy and the real matrix must be shielded.
	matrix, err := decide.Matrix(decide.MatrixConfig{HighPrivileged: playbook.RespondContain})
	require.NoError(t, err)
	inners := map[string]playbook.Policy{
		"fixed":  fixed{d: containDecision},
		"matrix": matrix,
	}
	for iname, inner := range inners {
		p, err := decide.Protect(inner, cfg)
		require.NoError(t, err)
		for _, tt := range tests {
			t.Run(iname+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				for _, priv := range []playbook.Privilege{playbook.PrivilegeStandard, playbook.PrivilegePrivileged} {
					f := tt.facts
					f.Privilege = priv
					c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, f)
					c.Event.Subject = tt.subject
					d := decideOK(t, p, c)
					if d.Response != playbook.RespondEscalate || len(d.Steps) != 0 || d.Rule != decide.RuleProtect {
						t.Fatalf("got %s/%s with %d steps, want escalate by %s", d.Rule, d.Response, len(d.Steps), decide.RuleProtect)
					}
					if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], tt.why) || !strings.Contains(d.Notes[0], "asked for contain (disable-user, revoke-sessions)") {
						t.Errorf("notes = %q", d.Notes)
					}
				}
			})
		}
	}
}

func TestProtectLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	p, err := decide.Protect(fixed{d: containDecision}, decide.ProtectConfig{Accounts: []string{"u-glass"}})
	require.NoError(t, err)
	c := newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Tags: []string{"break-glass-adjacent"}})
	d := decideOK(t, p, c)
	if d.Response != playbook.RespondContain || d.Rule != "inner/contain" || len(d.Notes) != 0 {
		t.Fatalf("unprotected subject changed: %+v", d)
	}
}

func TestProtectApprovals(t *testing.T) {
	t.Parallel()
	protected := playbook.Facts{Protected: true}
	tests := []struct {
		name         string
		cfg          decide.ProtectConfig
		inner        playbook.Decision
		wantResp     playbook.Response
		wantRule     string
		wantApproval string
		wantNote     string
	}{
		{"approval kept by default", decide.ProtectConfig{}, approveDecision, playbook.RespondApprove, "inner/approve", "leads", "approval kept"},
		{"approval routed", decide.ProtectConfig{Approval: "break-glass-owners"}, approveDecision, playbook.RespondApprove, decide.RuleProtect, "break-glass-owners", `rule "inner/approve" asked for approval, routed to approval rule "break-glass-owners"`},
		{"approval escalated", decide.ProtectConfig{EscalateApprovals: true}, approveDecision, playbook.RespondEscalate, decide.RuleProtect, "", `rule "inner/approve" asked for approve`},
		{"monitor untouched", decide.ProtectConfig{EscalateApprovals: true}, playbook.Decision{Response: playbook.RespondMonitor, Rule: "inner/monitor"}, playbook.RespondMonitor, "inner/monitor", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := decide.Protect(fixed{d: tt.inner}, tt.cfg)
			require.NoError(t, err)
			d := decideOK(t, p, newCase(playbook.EventRiskyUser, playbook.RiskHigh, protected))
			if d.Response != tt.wantResp || d.Rule != tt.wantRule || d.Approval != tt.wantApproval {
				t.Fatalf("got %s/%s approval %q, want %s/%s approval %q", d.Rule, d.Response, d.Approval, tt.wantRule, tt.wantResp, tt.wantApproval)
			}
			if tt.wantNote == "" {
				if len(d.Notes) != 0 {
					t.Errorf("notes = %q, want none", d.Notes)
				}
			} else if len(d.Notes) != 1 || !strings.Contains(d.Notes[0], tt.wantNote) {
				t.Errorf("notes = %q, want one containing %q", d.Notes, tt.wantNote)
			}
		})
	}
}

func TestProtectErrorsAndNames(t *testing.T) {
	t.Parallel()
	_, err := decide.Protect(nil, decide.ProtectConfig{})
	require.ErrorContains(t, err, "Protect: policy is nil")
	_, err = decide.Protect(fixed{}, decide.ProtectConfig{Accounts: []string{"a", ""}})
	require.ErrorContains(t, err, "ProtectConfig.Accounts[1] is empty")
	_, err = decide.Protect(fixed{}, decide.ProtectConfig{Tags: []string{" "}})
	require.ErrorContains(t, err, "ProtectConfig.Tags[0] is empty")

	boom := errors.New("boom")
	p, err := decide.Protect(fixed{err: boom}, decide.ProtectConfig{})
	require.NoError(t, err)
	if _, err := p.Decide(t.Context(), newCase(playbook.EventRiskyUser, playbook.RiskHigh, playbook.Facts{Protected: true})); !errors.Is(err, boom) {
		t.Errorf("inner error lost: %v", err)
	}
	if _, ok := p.(playbook.ActionNamer); ok {
		t.Error("Protect claims ActionNamer for an inner policy without it")
	}
	m, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	pm, err := decide.Protect(m, decide.ProtectConfig{})
	require.NoError(t, err)
	n, ok := pm.(playbook.ActionNamer)
	if !ok || !slices.Equal(n.ActionNames(), m.ActionNames()) {
		t.Errorf("Protect lost the inner ActionNamer (ok=%v)", ok)
	}
}
