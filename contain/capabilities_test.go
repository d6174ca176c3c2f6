package contain_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// decorations are the ways an action can be wrapped, alone and stacked.
var decorations = []struct {
	name string
	wrap func(playbook.Action) playbook.Action
}{
	{"Retry", func(a playbook.Action) playbook.Action { return contain.Retry(a, contain.RetryPolicy{}) }},
	{"Timeout", func(a playbook.Action) playbook.Action { return contain.Timeout(a, time.Minute) }},
	{"Verify", func(a playbook.Action) playbook.Action {
		return contain.Verify(a, func(context.Context, playbook.ActionRequest, playbook.ActionResult) error { return nil })
	}},
	{"Once", func(a playbook.Action) playbook.Action { return contain.Once(a, contain.NewMemoryLedger()) }},
	{"Once(Retry(Timeout(Verify)))", func(a playbook.Action) playbook.Action {
		v := contain.Verify(a, func(context.Context, playbook.ActionRequest, playbook.ActionResult) error { return nil })
		return contain.Once(contain.Retry(contain.Timeout(v, time.Minute), contain.RetryPolicy{}), contain.NewMemoryLedger())
	}},
	{"Verify(Once(Timeout(Retry)))", func(a playbook.Action) playbook.Action {
		r := contain.Timeout(contain.Retry(a, contain.RetryPolicy{}), time.Minute)
		return contain.Verify(contain.Once(r, contain.NewMemoryLedger()),
			func(context.Context, playbook.ActionRequest, playbook.ActionResult) error { return nil })
	}},
}

func TestDecoratorsKeepNameAndUnwrap(t *testing.T) {
	t.Parallel()
	for _, d := range decorations {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			inner := newScripted(playbook.ActionDisableUser)
			act := d.wrap(inner)
			assert.Equal(t, playbook.ActionDisableUser, act.Name())

			// The Unwrap chain ends at the inner action.
			var last playbook.Action = act
			for {
				u, ok := last.(playbook.Unwrapper)
				if !ok {
					break
				}
				last = u.Unwrap()
			}
			assert.True(t, last == playbook.Action(inner), "Unwrap chain must end at the inner action, ended at %T", last)
		})
	}
}

func TestCapabilitiesAreFoundThroughDecorators(t *testing.T) {
	t.Parallel()
	for _, d := range decorations {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()

			// Over an action that can plan and undo, both are found and
			// reach the inner action.
			inner := newReversible(playbook.ActionRemoveRole, outcome{Result: undone})
			act := d.wrap(inner)
			p, ok := playbook.AsPlanner(act)
			require.True(t, ok, "AsPlanner must find the inner Plan")
			planned, err := p.Plan(ctx, request())
			require.NoError(t, err)
			assert.Equal(t, playbook.StatusDryRun, planned.Status)
			assert.Len(t, inner.plans.Calls(), 1, "Plan reaches the inner action")

			u, ok := playbook.AsUndoer(act)
			require.True(t, ok, "AsUndoer must find an Undo")
			res, err := u.Undo(ctx, request(), applied)
			require.NoError(t, err)
			assertResult(t, undone, res)
			assert.Len(t, inner.undo.Calls(), 1, "Undo reaches the inner action")
			assert.Equal(t, []playbook.ActionResult{applied}, inner.done)
			assert.Empty(t, inner.exec.Calls(), "neither Plan nor Undo executes")

			// Over an action that can do neither, neither is reported.
			plain := d.wrap(newScripted(playbook.ActionDisableUser))
			_, ok = playbook.AsPlanner(plain)
			assert.False(t, ok, "AsPlanner must not invent a Plan")
			_, ok = playbook.AsUndoer(plain)
			assert.False(t, ok, "AsUndoer must not invent an Undo")
		})
	}
}

func TestUndo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		act       playbook.Action
		wantRes   playbook.ActionResult
		wantIs    error
		wantText  string
		wantUndos int
	}{
		{
			name:    "an action with Undo is undone",
			act:     newReversible(playbook.ActionRemoveRole, outcome{Result: undone}),
			wantRes: undone,
		},
		{
			name:     "an action without Undo is an ErrNoUndo naming it",
			act:      newScripted(playbook.ActionRevokeSessions),
			wantIs:   contain.ErrNoUndo,
			wantText: `undo "revoke-sessions"`,
		},
		{
			name:     "a decorated action without Undo is an ErrNoUndo naming it",
			act:      contain.Retry(contain.Timeout(newScripted(playbook.ActionRevokeSessions), time.Second), contain.RetryPolicy{}),
			wantIs:   contain.ErrNoUndo,
			wantText: `undo "revoke-sessions"`,
		},
		{
			name:     "a nil action is a configuration error",
			act:      nil,
			wantIs:   contain.ErrInvalidConfig,
			wantText: "nil action",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, err := contain.Undo(t.Context(), tt.act, request(), applied)
			if tt.wantIs == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.wantRes, res)
				return
			}
			require.ErrorIs(t, err, tt.wantIs)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
		})
	}
}
