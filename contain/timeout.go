package contain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Timeout returns an action that bounds each call of a to d: Execute (and
// Undo, see below) run a with a context that ends after d
// (context.WithTimeout of the caller's ctx).
//
// When that deadline ends the attempt, and the caller's ctx is still live,
// the error wraps ErrAttemptTimeout, context.DeadlineExceeded and a's own
// error, so playbook.Classify sees it as transient and a Retry around
// Timeout tries again. When the caller's ctx ended instead (cancelled, or
// its own deadline passed first), a's error is returned unchanged: a parent
// cancellation is never reported as an attempt timeout. Errors of a that do
// not wrap context.DeadlineExceeded, and results that a returns after the
// deadline without error, are returned unchanged.
//
// Timeout relies on a honouring ctx; it does not abandon a running call. The
// returned action keeps a's Name, is safe for concurrent use when a is, and
// unwraps to a. If a has a playbook.Undoer, the returned action is an Undoer
// too, whose Undo is bounded the same way; otherwise it is not. A nil a or
// a non-positive d is reported by every call as a permanent error wrapping
// ErrInvalidConfig, without calling a.
func Timeout(a playbook.Action, d time.Duration) playbook.Action {
	t := &timeout{inner: a, d: d}
	var err error
	switch {
	case a == nil:
		err = configError("Timeout: nil action")
	case d <= 0:
		err = configError("Timeout of action %q: duration must be positive (got %s)", a.Name(), d)
	}
	return decorate(a, err, t.run)
}

type timeout struct {
	inner playbook.Action
	d     time.Duration
}

func (t *timeout) run(ctx context.Context, op string, req playbook.ActionRequest, attempt attemptFunc) (playbook.ActionResult, error) {
	actx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	res, err := attempt(actx, req)
	if err != nil && ctx.Err() == nil &&
		errors.Is(actx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("contain: %s %q: %w after %s: %w", op, nameOf(t.inner), ErrAttemptTimeout, t.d, err)
	}
	return res, err
}
