// Package killtest proves that the embedded runner on the SQLite store
// survives crashes: completed steps never run again, interrupted steps are
// retried with the same idempotency key, approval waits and deadlines
// survive, and every event ends in exactly one terminal outcome.
//
// It holds the parts the crash tests share: a small playbook whose
// containment actions call an identity provider over HTTP with an
// idempotency key ([NewPlaybook]), that provider ([Ledger], which counts
// per key how many requests changed something), a deterministic set of
// events ([Events], [Expected]; one high-risk event in six waits for an
// approval, which [ApprovePending] gives) and the checker that turns what the store,
// the provider and the audit trail hold into a list of broken guarantees
// ([Check]).
//
// Two kinds of test use them:
//
//   - The resume tests (always run): an in-process runner on a real SQLite
//     file is stopped at chosen moments (mid-step, waiting for approval,
//     with a deadline passing while it is down) and a new runner on the
//     reopened file continues.
//   - The kill test (build tag killtest): the program in ./killrunner runs
//     the playbook on a SQLite file with 1,000 events against a Ledger the
//     test serves over HTTP; the test kills it with SIGKILL at random
//     moments at least 20 times while runs are unfinished, restarts it
//     each time, approves the runs that wait for a verdict through the
//     store's inbox (as the operator CLI does) while a runner runs, lets
//     the last runs finish, and runs Check.
//
// Run the kill test with
//
//	go test -tags killtest -race ./internal/killtest/...
//
// KILLTEST_SEED=N replays the random kill moments of a logged seed.
// KILLTEST_IGNORE_KEYS=1 makes the provider ignore idempotency keys, as a
// careless provider would: the test must then fail with keys applied
// twice, which shows that it can.
package killtest
