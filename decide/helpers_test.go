package decide_test

import (
	"context"
	"strings"
	"testing"
	"time"

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

// wantErr fails t unless err is non-nil and its message contains substr.
func wantErr(t *testing.T, err error, substr string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", substr)
	}
	if !strings.Contains(err.Error(), substr) {
		t.Fatalf("error %q does not contain %q", err, substr)
	}
}

// must returns v, or panics (failing the test) if err is not nil. Used
// for constructors whose success is not what the test checks.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// decideOK runs p on c and fails t on error.
func decideOK(t testing.TB, p playbook.Policy, c *playbook.Case) playbook.Decision {
	t.Helper()
	d, err := p.Decide(t.Context(), c)
	if err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if err := d.Validate(); err != nil {
		t.Fatalf("Decide returned an invalid decision: %v", err)
	}
	return d
}

type nopSink struct{}

func (nopSink) Record(context.Context, audit.Record) error { return nil }

func nopAction(name string) playbook.Action {
	return playbook.ActionFunc(name, func(context.Context, playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
}
