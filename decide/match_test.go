package decide_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestMatchEval(t *testing.T) {
	t.Parallel()
	high := newCase(playbook.EventRiskySignIn, playbook.RiskHigh, playbook.Facts{Privilege: playbook.PrivilegeStandard, Tags: []string{"Executive"}})
	factsHigh := newCase(playbook.EventRiskyUser, playbook.RiskLow, playbook.Facts{Risk: playbook.RiskHigh, Privilege: playbook.PrivilegePrivileged})
	unknown := newCase(playbook.EventRiskySignIn, playbook.RiskMedium, playbook.Facts{Protected: true})
	tests := []struct {
		name string
		m    decide.Match
		c    *playbook.Case
		want bool
	}{
		{"always", decide.Always(), high, true},
		{"risk at least high, event high", decide.RiskAtLeast(playbook.RiskHigh), high, true},
		{"risk at least high, facts risk high wins over event low", decide.RiskAtLeast(playbook.RiskHigh), factsHigh, true},
		{"risk at least high, medium", decide.RiskAtLeast(playbook.RiskHigh), unknown, false},
		{"risk at least medium, medium", decide.RiskAtLeast(playbook.RiskMedium), unknown, true},
		{"privileged, standard", decide.Privileged(), high, false},
		{"privileged, privileged", decide.Privileged(), factsHigh, true},
		{"privileged, unknown counts as privileged", decide.Privileged(), unknown, true},
		{"event type, listed", decide.EventType(playbook.EventRiskyUser, playbook.EventRiskySignIn), high, true},
		{"event type, not listed", decide.EventType(playbook.EventRiskyUser), high, false},
		{"tag, case-insensitive", decide.HasTag("executive"), high, true},
		{"tag, absent", decide.HasTag("executive"), factsHigh, false},
		{"protected, set", decide.Protected(), unknown, true},
		{"protected, unset", decide.Protected(), high, false},
		{"and, all", decide.And(decide.RiskAtLeast(playbook.RiskHigh), decide.Privileged()), factsHigh, true},
		{"and, one misses", decide.And(decide.RiskAtLeast(playbook.RiskHigh), decide.Privileged()), high, false},
		{"or, one hits", decide.Or(decide.Privileged(), decide.HasTag("executive")), high, true},
		{"or, none hits", decide.Or(decide.Privileged(), decide.Protected()), high, false},
		{"not", decide.Not(decide.Privileged()), high, true},
		{"not, negated", decide.Not(decide.Privileged()), factsHigh, false},
		{"predicate", decide.Predicate("login alice", func(c *playbook.Case) bool { return c.Event.Subject.Login == "alice@example.com" }), high, true},
		{"zero match never matches", decide.Match{}, high, false},
		{"invalid match never matches", decide.RiskAtLeast(9), high, false},
		{"nil case never matches", decide.Always(), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.m.Eval(tt.c); got != tt.want {
				t.Errorf("Eval = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		m       decide.Match
		wantErr string
	}{
		{"risk out of range", decide.RiskAtLeast(playbook.RiskLevel(7)), "invalid risk level 7"},
		{"no event type", decide.EventType(), "no event type"},
		{"empty event type", decide.EventType(playbook.EventRiskyUser, ""), "type 1 is empty"},
		{"empty tag", decide.HasTag(" "), "tag is empty"},
		{"predicate without name", decide.Predicate("", func(*playbook.Case) bool { return true }), "name is empty"},
		{"predicate without fn", decide.Predicate("x", nil), "fn is nil"},
		{"and without operands", decide.And(), "And: no operand"},
		{"or with an invalid operand", decide.Or(decide.Always(), decide.HasTag("")), "Or operand 1: HasTag: tag is empty"},
		{"not of zero", decide.Not(decide.Match{}), "Not: match is unset"},
		{"zero", decide.Match{}, "match is unset"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.ErrorContains(t, tt.m.Err(), tt.wantErr)
		})
	}
}

func TestMatchString(t *testing.T) {
	t.Parallel()
	m := decide.And(decide.RiskAtLeast(playbook.RiskHigh), decide.Or(decide.Privileged(), decide.Not(decide.HasTag("lab"))))
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), "(risk>=high && (privileged || !tag lab))"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}
