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

// Every decorator refuses a bad configuration on every call, with a
// permanent error naming what is wrong, and never calls the action.
func TestDecoratorsRejectBadConfig(t *testing.T) {
	t.Parallel()
	check := func(context.Context, playbook.ActionRequest, playbook.ActionResult) error { return nil }
	tests := []struct {
		name     string
		build    func(a playbook.Action) playbook.Action
		act      playbook.Action
		wantText string
	}{
		{"timeout zero", func(a playbook.Action) playbook.Action { return contain.Timeout(a, 0) }, newScripted("a"), "duration must be positive"},
		{"timeout negative", func(a playbook.Action) playbook.Action { return contain.Timeout(a, -time.Second) }, newScripted("a"), "duration must be positive"},
		{"timeout nil action", func(a playbook.Action) playbook.Action { return contain.Timeout(a, time.Second) }, nil, "nil action"},
		{"verify nil check", func(a playbook.Action) playbook.Action { return contain.Verify(a, nil) }, newScripted("disable-user"), `"disable-user": nil check`},
		{"verify nil action", func(a playbook.Action) playbook.Action { return contain.Verify(a, check) }, nil, "nil action"},
		{"once nil ledger", func(a playbook.Action) playbook.Action { return contain.Once(a, nil) }, newScripted("disable-user"), `"disable-user": nil ledger`},
		{"once nil action", func(a playbook.Action) playbook.Action { return contain.Once(a, contain.NewMemoryLedger()) }, nil, "nil action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.build(tt.act).Execute(t.Context(), request())
			require.ErrorIs(t, err, contain.ErrInvalidConfig)
			assert.Contains(t, err.Error(), tt.wantText)
			assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
			if a, ok := tt.act.(*scriptedAction); ok {
				assert.Empty(t, a.exec.Calls())
			}
		})
	}
}
