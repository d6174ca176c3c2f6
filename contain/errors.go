package contain

import (
	"errors"
	"fmt"

	"github.com/iamplaybook/iamplaybook/playbook"
)

var (
	// ErrInvalidConfig is wrapped by every error about a decorator's
	// configuration: a nil action, check or ledger, a non-positive timeout,
	// an invalid RetryPolicy. Such errors are marked permanent
	// (playbook.Permanent) when an action returns them, so that nobody
	// retries them.
	ErrInvalidConfig = errors.New("invalid configuration")

	// ErrNoUndo is wrapped by the error Undo returns for an action that has
	// no playbook.Undoer, in itself or in any action it wraps. Permanent.
	ErrNoUndo = errors.New("action cannot be undone")

	// ErrVerificationFailed is wrapped, together with the check's own
	// error, by the error a Verify decorator returns when the check fails
	// after a successful execution. Unless the check's error says otherwise
	// (a permanent canonical error, playbook.Permanent), playbook.Classify
	// sees it as transient, so a Retry around Verify executes again.
	ErrVerificationFailed = errors.New("verification failed")

	// ErrAttemptTimeout is wrapped, together with context.DeadlineExceeded
	// and the action's error, by the error a Timeout decorator returns when
	// its own per-attempt deadline ended the attempt. playbook.Classify sees
	// it as transient.
	ErrAttemptTimeout = errors.New("attempt timed out")
)

// Reasons a Retry stops retrying; the values of RetryError.Reason.
const (
	// ReasonPermanent: the last error is classified permanent.
	ReasonPermanent = "permanent"
	// ReasonAttempts: RetryPolicy.MaxAttempts attempts were made.
	ReasonAttempts = "attempts exhausted"
	// ReasonBudget: the next wait would end after RetryPolicy.MaxElapsed.
	ReasonBudget = "time budget exhausted"
	// ReasonContext: the caller's context ended.
	ReasonContext = "context ended"
)

// RetryError is the error a Retry decorator returns when it stops without
// success. It says why retrying stopped and keeps the last cause: Unwrap
// returns Last, so errors.Is(err, playbook.ErrNotFound) and
// playbook.Classify see through it.
//
// When the caller's context ended (Reason == ReasonContext), Last satisfies
// errors.Is(Last, ctx.Err()) and, when an attempt had failed before, also
// errors.Is with that attempt's error.
type RetryError struct {
	// Action is the name of the retried action.
	Action string
	// Op is the retried operation: "execute" or "undo".
	Op string
	// Attempts is how many attempts this Retry made (0 when ctx had ended
	// before the first).
	Attempts int
	// Reason is one of ReasonPermanent, ReasonAttempts, ReasonBudget and
	// ReasonContext.
	Reason string
	// Last is the error that stopped retrying.
	Last error
}

// Error names the action, the reason, the number of attempts and the last
// cause.
func (e *RetryError) Error() string {
	s := "s"
	if e.Attempts == 1 {
		s = ""
	}
	return fmt.Sprintf("contain: %s %q: gave up after %d attempt%s (%s): %v",
		e.Op, e.Action, e.Attempts, s, e.Reason, e.Last)
}

// Unwrap returns Last.
func (e *RetryError) Unwrap() error { return e.Last }

// configError returns a permanent error wrapping ErrInvalidConfig.
func configError(format string, args ...any) error {
	return playbook.Permanent(fmt.Errorf("contain: %w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
}

// nameOf returns a's name, or "" for a nil action.
func nameOf(a playbook.Action) string {
	if a == nil {
		return ""
	}
	return a.Name()
}
