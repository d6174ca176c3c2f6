// Package playbooktest lets a host unit-test a playbook in a few lines: it
// runs the playbook on an embedded runner with an in-memory store, audit
// trail, ticketer and approval queue, and offers assertions on outcomes,
// audit records and approvals.
//
//	func TestAdminsWaitForApproval(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			h := playbooktest.New(t, myPlaybook(idp))
//			id := h.Fire(riskySignIn("gus"))
//			h.Settle()
//			h.RequireWaiting(id)
//			h.Advance(2 * time.Hour) // nobody answered
//			h.RequireOutcome(id, playbook.OutcomeEscalated)
//			h.CheckInvariants()
//		})
//	}
//
// The harness works under testing/synctest: create it inside the bubble,
// and Advance moves the bubble's fake clock, firing approval deadlines and
// retry backoffs without real sleeping. Outside a bubble, give the runner a
// manual [Clock]. Provider faults are scripted on the provider itself (see
// providers/fake), and [Invariants] checks the run guarantees over any
// store and audit trail.
package playbooktest
