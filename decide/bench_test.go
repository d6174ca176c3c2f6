package decide_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// handWritten is the baseline for BenchmarkMatrix: the default matrix as
// plain if/else, building the same decision.
func handWritten(_ context.Context, c *playbook.Case) (playbook.Decision, error) {
	risk := max(c.Event.Risk, c.Facts.Risk)
	privileged := c.Facts.Privilege != playbook.PrivilegeStandard
	steps := func() []playbook.Step {
		return []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}
	}
	switch {
	case risk == playbook.RiskHigh && privileged:
		return playbook.Decision{Response: playbook.RespondApprove, Rule: "matrix/high-privileged", Reason: "high risk, privileged subject: containment after approval", Steps: steps()}, nil
	case risk == playbook.RiskHigh:
		return playbook.Decision{Response: playbook.RespondContain, Rule: "matrix/high-standard", Reason: "high risk, standard subject: automatic containment", Steps: steps()}, nil
	case risk == playbook.RiskMedium:
		return playbook.Decision{Response: playbook.RespondMonitor, Rule: "matrix/medium-standard", Reason: "medium risk: notify and monitor"}, nil
	default:
		return playbook.Decision{Response: playbook.RespondLog, Rule: "matrix/low-standard", Reason: "low risk: log only"}, nil
	}
}

func benchCases() []*playbook.Case {
	var cs []*playbook.Case
	for _, r := range []playbook.RiskLevel{playbook.RiskNone, playbook.RiskLow, playbook.RiskMedium, playbook.RiskHigh} {
		for _, p := range []playbook.Privilege{playbook.PrivilegeUnknown, playbook.PrivilegeStandard, playbook.PrivilegePrivileged} {
			cs = append(cs, newCase(playbook.EventRiskySignIn, r, playbook.Facts{Privilege: p}))
		}
	}
	return cs
}

func BenchmarkMatrix(b *testing.B) {
	cases := benchCases()
	ctx := context.Background()
	run := func(b *testing.B, decide func(context.Context, *playbook.Case) (playbook.Decision, error)) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := decide(ctx, cases[i%len(cases)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
	b.Run("matrix", func(b *testing.B) {
		m, err := decide.Matrix(decide.MatrixConfig{})
		require.NoError(b, err)
		run(b, m.Decide)
	})
	b.Run("matrix-roles", func(b *testing.B) {
		m, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
		require.NoError(b, err)
		run(b, m.Decide)
	})
	b.Run("default-policy", func(b *testing.B) { run(b, decide.DefaultPolicy().Decide) })
	b.Run("baseline-if-else", func(b *testing.B) { run(b, handWritten) })
}
