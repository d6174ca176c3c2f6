// Package fake is an in-memory identity provider: a working directory of
// users, roles, groups, sessions and sign-ins that implements the provider
// side of iamplaybook (enrichers, containment actions, triggers) the way a
// real provider would, in the manner of testing/fstest.MapFS.
//
// Hosts use it to unit-test their playbooks without a tenant; the project
// uses it to test the runner and as the reference implementation of the
// provider conformance suite in package providertest.
//
// Seed the directory with AddUser, DefineRole, AssignRole, DefineGroup,
// AddToGroup, AddSession, AddSignIn and SetRisk; read it back with User,
// Roles, Groups, Sessions and SignIns, which return copies. Seeding is
// neither logged nor subject to faults.
//
// The provider's API is what a playbook calls:
//
//   - Enrichers (ProfileEnricher, RolesEnricher, ...) read the directory and
//     fill the case's facts.
//   - Actions returns the containment actions under their well-known names,
//     each idempotent, with a dry-run Plan and, where reversible, an Undo.
//   - Trigger (a scripted list of events) and Feed (events pushed by the
//     test) produce events; Sweep is a hygiene sweep (disabled accounts
//     with sessions, dormant privileged accounts, accounts without a
//     manager) for a playbook.Schedule.
//
// Every API call is recorded in a call log (Calls, Writes, CallCount,
// WriteCount) and can be made to fail: Fail and Throttle script the next
// failures of an operation; SetFaults sets persistent faults (latency,
// permission denied, not found, throttling, a seeded random error rate).
// Injected errors are *playbook.ProviderError values wrapping the canonical
// errors, so that retry and escalation code sees what a real provider would
// return.
//
// A Provider is safe for concurrent use.
package fake
