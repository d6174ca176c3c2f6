package decide_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestApprovalNames(t *testing.T) {
	t.Parallel()
	matrix, err := decide.Matrix(decide.MatrixConfig{Approval: "leads"})
	require.NoError(t, err)
	plain, err := decide.Matrix(decide.MatrixConfig{})
	require.NoError(t, err)
	protected, err := decide.Protect(matrix, decide.ProtectConfig{Accounts: []string{"bg"}, Approval: "break-glass"})
	require.NoError(t, err)
	budgeted, err := decide.Budget(protected, decide.BudgetConfig{Max: 5, Window: time.Hour, Approval: "over-budget"})
	require.NoError(t, err)
	approveDisable := playbook.Decision{Response: playbook.RespondApprove, Approval: "two-leads",
		Steps: []playbook.Step{{Action: "disable-user"}}}
	rules, err := decide.NewRules([]decide.Rule{{Name: "admins", When: decide.Privileged(), Decision: approveDisable}},
		decide.Rule{Name: "log", Decision: playbook.Decision{Response: playbook.RespondLog}})
	require.NoError(t, err)

	tests := []struct {
		name   string
		policy playbook.Policy
		want   []string
	}{
		{"matrix names its approval rule", matrix, []string{"leads"}},
		{"matrix without a rule names none", plain, nil},
		{"protect adds its stricter rule to the inner policy's", protected, []string{"break-glass", "leads"}},
		{"budget adds its rule to every wrapped policy's", budgeted, []string{"over-budget", "break-glass", "leads"}},
		{"rules name what their decisions name", rules, []string{"two-leads"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, ok := tt.policy.(playbook.ApprovalNamer)
			require.True(t, ok, "the policy lists its approval rules")
			assert.ElementsMatch(t, tt.want, n.ApprovalNames())
		})
	}
}

func noop(name string) playbook.Action {
	return playbook.ActionFunc(name, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{}, nil
	})
}

// A playbook whose policy names an approval rule that its ApprovalRule
// does not define is refused when it is built, not at the first
// privileged case.
func TestPlaybookRefusesUnknownApprovalRuleNames(t *testing.T) {
	t.Parallel()
	lead := approve.Rule{Eligible: []string{"lead@example.com"}}
	matrix, err := decide.Matrix(decide.MatrixConfig{Approval: "leads"})
	require.NoError(t, err)
	protected, err := decide.Protect(matrix, decide.ProtectConfig{Accounts: []string{"bg"}, Approval: "break-glass"})
	require.NoError(t, err)
	tests := []struct {
		name    string
		rules   approve.Rules
		wantErr string
	}{
		{"every name defined", approve.Rules{ByName: map[string]approve.Rule{"leads": lead, "break-glass": lead}}, ""},
		{"wrapped policy's name missing", approve.Rules{ByName: map[string]approve.Rule{"break-glass": lead}}, `"leads"`},
		{"wrapper's name missing", approve.Rules{ByName: map[string]approve.Rule{"leads": lead}}, `"break-glass"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			actions := map[string]playbook.Action{}
			for _, name := range protected.(playbook.ActionNamer).ActionNames() {
				actions[name] = noop(name)
			}
			pb := playbook.Playbook{Name: "names", Policy: protected, ApprovalRule: tt.rules,
				Actions: actions, Audit: []playbook.AuditSink{audit.NewMemory()}}
			err := pb.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
}
