package contain

import (
	"context"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// attemptFunc is one call of the wrapped action: its Execute, or its Undo
// bound to the result being undone.
type attemptFunc func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error)

// aroundFunc runs an attempt the decorator's way (with retries, within a
// timeout); op is "execute" or "undo".
type aroundFunc func(ctx context.Context, op string, req playbook.ActionRequest, attempt attemptFunc) (playbook.ActionResult, error)

// decorate wraps inner so that Execute, and Undo when inner has an Undoer,
// go through around. err, when set, is a configuration error that every
// call returns without calling inner. The result keeps inner's Name and
// unwraps to it; it is an Undoer only when inner has one, so that
// playbook.AsUndoer tells the truth.
func decorate(inner playbook.Action, err error, around aroundFunc) playbook.Action {
	d := &decorator{inner: inner, err: err, around: around}
	if u, ok := playbook.AsUndoer(inner); ok {
		return &undoableDecorator{decorator: d, undoer: u}
	}
	return d
}

type decorator struct {
	inner  playbook.Action
	err    error // configuration error, reported by every call
	around aroundFunc
}

// Name returns the wrapped action's name.
func (d *decorator) Name() string { return nameOf(d.inner) }

// Unwrap returns the wrapped action.
func (d *decorator) Unwrap() playbook.Action { return d.inner }

// Execute runs the wrapped action's Execute through the decorator.
func (d *decorator) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if d.err != nil {
		return playbook.ActionResult{}, d.err
	}
	return d.around(ctx, "execute", req, d.inner.Execute)
}

type undoableDecorator struct {
	*decorator
	undoer playbook.Undoer
}

// Undo runs the wrapped action's Undo through the decorator.
func (d *undoableDecorator) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	if d.err != nil {
		return playbook.ActionResult{}, d.err
	}
	return d.around(ctx, "undo", req, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return d.undoer.Undo(ctx, req, done)
	})
}
