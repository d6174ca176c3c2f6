package contain

import (
	"context"
	"fmt"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Verify returns an action that, after each successful Execute of a, calls
// check with the same ctx and request and the result, to confirm that the
// effect is in place (for example by reading back that the user is
// disabled). Results of every status are checked, StatusAlreadyApplied
// included.
//
// When check returns an error, Execute returns the result (its Prior is
// still needed to undo) and an error wrapping ErrVerificationFailed and the
// check's error. playbook.Classify then sees the check's error: an error it
// knows nothing about ("still enabled") is transient, so a Retry around
// Verify executes again; a check that returns a permanent error (for example
// playbook.Permanent(err) or one wrapping playbook.ErrNotFound) stops
// retrying. Errors from a itself are returned unchanged, without calling
// check.
//
// check must be safe for concurrent use when the action is used
// concurrently, must make no provider writes, and should return ctx.Err()
// when ctx ends. The returned action keeps a's Name and unwraps to a; it does
// not decorate Plan or Undo (see the package documentation). A nil a or
// check is reported by every Execute as a permanent error wrapping
// ErrInvalidConfig, without calling a.
func Verify(a playbook.Action, check func(ctx context.Context, req playbook.ActionRequest, res playbook.ActionResult) error) playbook.Action {
	v := &verifier{inner: a, check: check}
	switch {
	case a == nil:
		v.err = configError("Verify: nil action")
	case check == nil:
		v.err = configError("Verify of action %q: nil check", a.Name())
	}
	return v
}

type verifier struct {
	inner playbook.Action
	check func(ctx context.Context, req playbook.ActionRequest, res playbook.ActionResult) error
	err   error // configuration error, reported by every call
}

// Name returns the wrapped action's name.
func (v *verifier) Name() string { return nameOf(v.inner) }

// Unwrap returns the wrapped action.
func (v *verifier) Unwrap() playbook.Action { return v.inner }

// Execute executes the wrapped action, then checks its effect.
func (v *verifier) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if v.err != nil {
		return playbook.ActionResult{}, v.err
	}
	res, err := v.inner.Execute(ctx, req)
	if err != nil {
		return res, err
	}
	if err := v.check(ctx, req, res); err != nil {
		return res, fmt.Errorf("contain: execute %q: %w: %w", v.Name(), ErrVerificationFailed, err)
	}
	return res, nil
}
