package decide_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// newCase returns a case about alice with the given event type, event risk
// and facts.
func newCase(typ playbook.EventType, risk playbook.RiskLevel, facts playbook.Facts) *playbook.Case {
	c := playbook.NewCase("run-1", playbook.Event{
		ID:      "ev-1",
		Type:    typ,
		Subject: playbook.Subject{Provider: "entra", ID: "u-alice", Login: "alice@example.com"},
		Risk:    risk,
	})
	c.Facts = facts
	c.Now = t0
	return c
}

var containment = []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}

// decideOK runs p on c and fails t on error.
func decideOK(t testing.TB, p playbook.Policy, c *playbook.Case) playbook.Decision {
	t.Helper()
	d, err := p.Decide(t.Context(), c)
	require.NoError(t, err, "Decide")
	require.NoError(t, d.Validate(), "Decide returned an invalid decision")
	return d
}

type nopSink struct{}

func (nopSink) Record(context.Context, audit.Record) error { return nil }

func nopAction(name string) playbook.Action {
	return playbook.ActionFunc(name, func(context.Context, playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
}
