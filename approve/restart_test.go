package approve_test

import (
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// Approvals live in the durable store: after a restart the verdicts given
// still count (and nobody votes twice), reminders and tiers already sent
// are not sent again, and those that fell due while no runner ran are sent
// once.
func TestApprovalsSurviveRestartOnSQLite(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "runs.db"), sqlite.Options{})
		require.NoError(t, err)
		defer st.Close()
		opts := playbooktest.Options{Runner: playbook.Options{Store: st}}
		c := &contained{}

		f1 := &noticeLog{}
		h1 := playbooktest.New(t, rulesPlaybook(c, f1), opts)
		id := h1.Fire(adminEvent("e1"))
		h1.Settle()
		require.NoError(t, h1.Approve(id, "lead1@example.com", "one of two"))
		h1.Advance(40 * time.Minute)
		h1.Close()
		assert.Equal(t, []string{"reminder/0"}, f1.kinds())

		time.Sleep(40 * time.Minute) // no runner: the 1h reminder and tier 1 fall due

		f2 := &noticeLog{}
		h2 := playbooktest.New(t, rulesPlaybook(c, f2), opts)
		h2.Settle()
		assert.ElementsMatch(t, []string{"escalation/1", "reminder/0"}, f2.kinds(), "sent once, after the restart")
		h2.RequireWaiting(id)
		require.ErrorIs(t, h2.Approve(id, "lead1@example.com", "again"), playbook.ErrInvalidVerdict, "the first vote survived the restart")
		require.NoError(t, h2.Approve(id, "ciso@example.com", "fallback"))
		h2.RequireOutcome(id, playbook.OutcomeContained)
		assert.Equal(t, 1, c.calls())
		v := h2.Run(id).Approval.Verdicts
		require.Len(t, v, 2)
		assert.Equal(t, "lead1@example.com", v[0].Approver)
		assert.Equal(t, "ciso@example.com", v[1].Approver)
		h2.Close()
	})
}
