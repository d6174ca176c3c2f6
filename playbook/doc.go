// Package playbook holds the core of iamplaybook: the types a response is
// made of, the six interfaces a host implements or composes, the Playbook
// definition and the embedded Runner.
//
// A run follows one flow:
//
//	Trigger → Enrich → Decide → [Approve] → Contain → Log → Resolve
//
// A [Trigger] emits an [Event]. The [Runner] validates and de-duplicates it
// and journals a [Run] in a [Store]. An [Enricher] gathers facts about the
// subject into a [Case]; a [Policy] maps the case to a [Decision] naming the
// rule that made it. A decision that needs approval pauses the run — no
// goroutine waits — until a [Verdict] arrives through [Runner.Submit] or the
// deadline denies it. Containment runs each [Step] through an [Action],
// with an audit record written before (intent) and after (result). Every
// run ends in exactly one [Outcome]: contained, monitoring, logged,
// escalated or dry-run.
//
// # Journal and resume
//
// Each stage is a journaled step with a deterministic id ("enrich",
// "decide", "contain/0/disable-user"), and each containment step gets an
// idempotency key derived from the run id and step id. A runner that starts
// on a store holding unfinished runs resumes them: completed steps are not
// executed again, a step interrupted mid-flight runs again with the same
// idempotency key, and approvals keep their deadlines.
//
// # Failure
//
// Nothing fails silently. An error in any stage, a panic in host code, a
// failed action after its retries, a denied or unanswered approval: each
// escalates the run, with the cause in the audit trail and on the run. A
// failed audit write stops the run (fail closed).
//
// # Undo
//
// A finished run's containment can be reversed with [Runner.Undo], for a
// false positive: each applied step is undone in reverse order from the
// prior state it journaled, as a journaled, audited step of its own with
// the operator as its actor.
//
// # Time
//
// The runner reads time from its [Clock]; policies read it from Case.Now,
// which is journaled, so that replaying a run reproduces its decision.
// Tests drive deadlines with testing/synctest.
package playbook
