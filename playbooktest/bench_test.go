package playbooktest_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
)

// The core benchmark playbook runs the whole path: every event it is given
// is enriched, decided and contained with both actions.
func TestBenchmarkPlaybookContainsEveryEvent(t *testing.T) {
	t.Parallel()
	idp := playbooktest.BenchmarkProvider(t, 3)
	h := playbooktest.New(t, playbooktest.BenchmarkPlaybook(t, idp))
	var ids []string
	for i := range 3 {
		ids = append(ids, h.Fire(playbooktest.BenchmarkEvent(i)))
	}
	h.Settle()
	for _, id := range ids {
		h.RequireOutcome(id, playbook.OutcomeContained)
	}
	assert.Equal(t, 3, idp.WriteCount(playbook.ActionDisableUser))
	assert.Equal(t, 3, idp.WriteCount(playbook.ActionRevokeSessions))
	h.CheckInvariants()
}
