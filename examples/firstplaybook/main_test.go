package main

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

func Example() {
	main()
	// Output: outcome: contained by rule matrix/high-standard; account disabled: true; audit records: 8
}

// TestRiskySignIn is how a host tests its playbook: a standard user is
// contained at once; a Global Administrator waits for approval, and an
// unanswered request escalates at its deadline without touching the
// account.
func TestRiskySignIn(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		idp := fake.New()
		require.NoError(t, idp.AddUser(fake.User{ID: "ana", Login: "ana@example.com"}))
		require.NoError(t, idp.AddUser(fake.User{ID: "gus", Login: "gus@example.com"}))
		_, err := idp.AssignRole("gus", "global-admin", "/")
		require.NoError(t, err)

		pb, err := Build(idp, audit.Discard)
		require.NoError(t, err)
		h := playbooktest.New(t, pb)

		risky := func(id, user string) playbook.Event {
			return playbook.Event{ID: id, Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh, Subject: idp.Subject(user)}
		}
		ana := h.Fire(risky("d1", "ana"))
		gus := h.Fire(risky("d2", "gus"))
		h.Settle()

		h.RequireOutcome(ana, playbook.OutcomeContained)
		h.RequireWaiting(gus)

		h.Advance(2 * time.Hour) // nobody answered
		h.RequireOutcome(gus, playbook.OutcomeEscalated)
		admin, _ := idp.User("gus")
		assert.False(t, admin.Disabled, "an unanswered approval never contains")
		h.CheckInvariants()
	})
}
