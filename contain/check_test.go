package contain_test

import (
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// assertResult compares an action result with want, ignoring the retry
// notes Retry adds to Response (checked by TestRetryNotesAttempts).
func assertResult(t *testing.T, want, got playbook.ActionResult) {
	t.Helper()
	if got.Response != nil {
		r := maps.Clone(got.Response)
		delete(r, "attempts")
		delete(r, "retried_errors")
		if len(r) == 0 {
			r = nil
		}
		got.Response = r
	}
	assert.Equal(t, want, got)
}
