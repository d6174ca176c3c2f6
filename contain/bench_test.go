package contain_test

import (
	"context"
	"testing"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// BenchmarkRetryNoFailure measures what Retry adds to an action that
// succeeds at once; "bare" is the undecorated call, the baseline.
func BenchmarkRetryNoFailure(b *testing.B) {
	ok := playbook.ActionFunc("a", func(context.Context, playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	req := request()
	for _, bc := range []struct {
		name string
		act  playbook.Action
	}{
		{"bare", ok},
		{"retry", contain.Retry(ok, contain.RetryPolicy{})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.act.Execute(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
