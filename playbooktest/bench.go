package playbooktest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// BenchmarkPolicy contains every case, so that the core benchmark measures
// the whole path of a run: enrich, decide, two containment actions,
// resolve.
var BenchmarkPolicy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	return playbook.Decision{Response: playbook.RespondContain, Rule: "bench/contain",
		Steps: []playbook.Step{{Action: playbook.ActionDisableUser}, {Action: playbook.ActionRevokeSessions}}}, nil
})

// BenchmarkProvider returns a fake provider, without a call log, holding
// users "u0" to "u<users-1>", each with one session: the accounts
// BenchmarkEvent names.
func BenchmarkProvider(tb testing.TB, users int) *fake.Provider {
	tb.Helper()
	idp := fake.New(fake.WithoutCallLog())
	for i := range users {
		id := fmt.Sprint("u", i)
		if err := idp.AddUser(fake.User{ID: id, Login: id + "@example.com"}); err != nil {
			tb.Fatal(err)
		}
		if _, err := idp.AddSession(id, playbook.Session{ID: "s" + id}); err != nil {
			tb.Fatal(err)
		}
	}
	return idp
}

// BenchmarkEvent returns event i of the core benchmark: a high-risk
// sign-in of user "u<i>", with its own event id.
func BenchmarkEvent(i int) playbook.Event {
	id := fmt.Sprint("u", i)
	return playbook.Event{ID: fmt.Sprint("e", i), Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh,
		Subject: playbook.Subject{Provider: fake.DefaultName, ID: id, Login: id + "@example.com"}}
}

// BenchmarkPlaybook returns the core benchmark playbook over idp: three
// enrichers in parallel (profile and roles required, risk optional),
// BenchmarkPolicy, the provider's actions, and a discarding audit sink.
// Every benchmark of a runner or a store runs this playbook, so that their
// figures compare.
func BenchmarkPlaybook(tb testing.TB, idp *fake.Provider) playbook.Playbook {
	tb.Helper()
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", idp.ProfileEnricher(), time.Second),
		enrich.Required("roles", idp.RolesEnricher(), time.Second),
		enrich.Optional("risk", idp.RiskEnricher(), time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	return playbook.Playbook{Name: "bench", Enricher: enricher, Policy: BenchmarkPolicy,
		Actions: idp.Actions(), Audit: []playbook.AuditSink{audit.Discard}}
}
