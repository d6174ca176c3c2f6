// Package playbooktest lets a host unit-test a playbook in a few lines: it
// runs the playbook on an embedded runner with an in-memory store, audit
// trail, ticketer and approval queue, and offers assertions on outcomes,
// audit records and approvals.
//
// The harness works under testing/synctest: create it inside the bubble,
// and Advance moves the bubble's fake clock, firing approval deadlines and
// retry backoffs without real sleeping. Provider faults are scripted on the
// provider itself (see providers/fake).
package playbooktest
