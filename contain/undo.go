package contain

import (
	"context"
	"fmt"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Undo reverses a completed execution of a: it finds a's playbook.Undoer
// with playbook.AsUndoer (through any decorators, which may add retries and
// deadlines to it, see Retry and Timeout) and calls its Undo with ctx, req
// and done, the result of the execution to reverse (whose Prior holds the
// state to restore). It returns what Undo returns.
//
// When a has no Undoer, Undo returns a permanent error wrapping ErrNoUndo
// that names the action; a nil a gives a permanent error wrapping
// ErrInvalidConfig.
func Undo(ctx context.Context, a playbook.Action, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	if a == nil {
		return playbook.ActionResult{}, configError("Undo: nil action")
	}
	u, ok := playbook.AsUndoer(a)
	if !ok {
		return playbook.ActionResult{}, playbook.Permanent(fmt.Errorf("contain: undo %q: %w", a.Name(), ErrNoUndo))
	}
	return u.Undo(ctx, req, done)
}
