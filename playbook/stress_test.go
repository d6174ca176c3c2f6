package playbook_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// TestRunnerGuaranteesUnderLoad fires hundreds of events about a few
// subjects at a provider that fails a fifth of its calls, answers some
// approvals, ignores others until their deadline, and then checks the
// guarantees over everything: one ending (or a visible wait) per accepted
// event, an intent and a result around every step, no gated step without
// an approving verdict, and no idempotency key applied twice.
func TestRunnerGuaranteesUnderLoad(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		idp := fake.New(fake.WithSeed(7))
		const users = 12
		for i := range users {
			id := fmt.Sprint("u", i)
			require.NoError(t, idp.AddUser(fake.User{ID: id, Login: id + "@example.com"}))
			if i%4 == 0 {
				_, err := idp.AssignRole(id, "global-admin", "/")
				require.NoError(t, err)
			}
		}
		require.NoError(t, idp.SetFaults(fake.AnyOp, fake.Faults{ErrorRate: 0.2}))

		enricher, err := enrich.Parallel(enrich.Options{},
			enrich.Required("profile", enrich.Retry(idp.ProfileEnricher(), contain.RetryPolicy{InitialInterval: 50 * time.Millisecond}), time.Minute),
			enrich.Required("roles", enrich.Retry(idp.RolesEnricher(), contain.RetryPolicy{InitialInterval: 50 * time.Millisecond}), time.Minute),
			enrich.Optional("risk", idp.RiskEnricher(), time.Second))
		require.NoError(t, err)
		policy, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
		require.NoError(t, err)
		actions := map[string]playbook.Action{}
		for name, a := range idp.Actions() {
			actions[name] = contain.Retry(a, contain.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaxAttempts: 8})
		}
		h := playbooktest.New(t, playbook.Playbook{Name: "load", Enricher: enricher, Policy: policy, Actions: actions,
			ApprovalTimeout: time.Hour}, playbooktest.Options{Runner: playbook.Options{Concurrency: 4}})

		risks := []playbook.RiskLevel{playbook.RiskLow, playbook.RiskMedium, playbook.RiskHigh}
		var accepted []string
		for i := range 300 {
			ev := playbook.Event{ID: fmt.Sprint("e", i%280), Type: playbook.EventRiskySignIn, // 20 redeliveries
				Risk: risks[rng.IntN(len(risks))], Subject: idp.Subject(fmt.Sprint("u", rng.IntN(users)))}
			id, err := h.Handle(ev)
			if i >= 280 {
				require.ErrorIs(t, err, playbook.ErrDuplicate, "a redelivered event starts no second run")
				continue
			}
			require.NoError(t, err)
			accepted = append(accepted, id)
		}
		h.Settle()

		// Answer every other waiting approval; the rest expire.
		for i, r := range h.Approvals.Requests() {
			if i%2 == 0 {
				err := h.Runner.Submit(t.Context(), playbook.Verdict{ApprovalID: r.ID, Approver: "lead@example.com", Approve: i%4 == 0, Channel: "test"})
				require.NoError(t, err)
			}
		}
		h.Settle()
		h.Advance(time.Hour)

		outcomes := map[playbook.Outcome]int{}
		for _, id := range accepted {
			run := h.Run(id)
			require.Equal(t, playbook.RunDone, run.State, "run %s ended", id)
			outcomes[run.Outcome]++
		}
		t.Logf("outcomes: %v", outcomes)
		assert.Positive(t, outcomes[playbook.OutcomeContained])
		assert.Positive(t, outcomes[playbook.OutcomeEscalated])
		assert.Positive(t, outcomes[playbook.OutcomeLogged])
		h.CheckInvariants()

		applied := map[string]int{}
		for _, c := range idp.Writes() {
			applied[c.IdempotencyKey]++
		}
		for key, n := range applied {
			assert.Equal(t, 1, n, "idempotency key %s applied %d times", key, n)
		}
	})
}
