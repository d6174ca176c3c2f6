// Package contain decorates containment actions (playbook.Action) with the
// behaviour every step needs: retries with backoff that honour a provider's
// Retry-After ([Retry]), a per-attempt deadline ([Timeout]), a read-back
// check of the effect ([Verify]), an idempotency guard for hosts and
// providers that lack one ([Once]) and a helper to reverse a step ([Undo]).
//
// Each decorator keeps the wrapped action's Name and implements
// playbook.Unwrapper, returning the wrapped action, so decorators stack:
//
//	act := contain.Once(
//		contain.Retry(
//			contain.Timeout(
//				contain.Verify(disable, userIsDisabled),
//				10*time.Second),
//			contain.RetryPolicy{}),
//		ledger)
//
// reads, from the inside out: execute and read the effect back, bound that
// attempt to ten seconds, retry failed or unverified attempts with the
// default policy, and never execute the same idempotency key twice.
//
// # Optional capabilities: Planner and Undoer
//
// The runner finds an action's optional capabilities with playbook.AsPlanner
// and playbook.AsUndoer, which walk Unwrap chains. The decorators in this
// package do not implement playbook.Planner: planning makes no writes, so
// there is nothing to retry, verify or guard, and AsPlanner finds the
// wrapped action's Plan through Unwrap. A decorator that always implemented
// a capability would make AsPlanner or AsUndoer report it for every action,
// including those that cannot plan or undo.
//
// Undo is different: it writes, so it deserves the same retries and
// deadline as Execute. Retry and Timeout therefore implement
// playbook.Undoer, but only when the action they wrap has an Undoer (they
// return a value of a different, Undoer-implementing type in that case).
// AsUndoer on such a stack finds the outermost decorated Undo; on a stack
// over an action without Undo it reports false. Verify and Once do not
// decorate Undo: the check reads back the forward effect, and the ledger
// records forward executions only.
//
// # Errors
//
// Decorators keep the wrapped action's errors in the chain, so
// errors.Is(err, playbook.ErrNotFound) and playbook.Classify work on what
// they return. Misconfiguration (a nil action, a negative duration, an
// invalid [RetryPolicy]) never panics: Execute and Undo return an error
// wrapping [ErrInvalidConfig], marked permanent, without calling the wrapped
// action. Validate a policy up front with [RetryPolicy.Validate].
//
// # Cancellation
//
// Retry's waits between attempts and Once's wait for a busy key end as soon
// as ctx ends, and return an error satisfying errors.Is(err, ctx.Err()).
// During an attempt, every decorator depends on the wrapped action
// honouring ctx, as playbook.Action requires; none abandons a running call.
// When ctx ends while an attempt is running, the effect may or may not have
// happened; the runner's journal retries the step later with the same
// idempotency key.
//
// Logging is not the decorators' job: the runner records every attempt in
// the audit trail.
package contain
