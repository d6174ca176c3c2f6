package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRestartSequence runs the sequence of the package documentation:
// start (the run waits), stop, what happens while no runner runs (an
// operator's verdict posted to the store as `iamplaybook approve` posts
// it, or nothing, or the deadline passing), start again.
func TestRestartSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// between happens while no runner runs.
		between func(t *testing.T, db, runID string)
		want    playbook.Outcome // "" means still waiting
		wantErr bool
		out     []string
	}{
		{name: "approved with the CLI while stopped: contained on the next start",
			between: postVerdict(true, "secops-lead@contoso.example", "Gus confirmed Lagos was not him"),
			want:    playbook.OutcomeContained,
			out: []string{"event det-1002 again: a duplicate of run", "is contained after secops-lead@contoso.example approved via cli",
				"gus disabled=true, sessions left 0, provider writes 2", "runs show"}},
		{name: "denied with the CLI while stopped: escalated on the next start",
			between: postVerdict(false, "secops-lead@contoso.example", "travel confirmed by the manager"),
			want:    playbook.OutcomeEscalated, wantErr: true, out: []string{"is done (escalated)"}},
		{name: "nobody answered: the run still waits after the restart",
			between: func(*testing.T, string, string) {},
			out:     []string{"a duplicate of run", "is waiting for approval"}},
		{name: "the deadline passed while stopped: escalated at start",
			between: func(*testing.T, string, string) { time.Sleep(5 * time.Hour) },
			want:    playbook.OutcomeEscalated, wantErr: true, out: []string{"is done (escalated)"}},
		{name: "approved in time but the runner started after the deadline: the verdict counts",
			between: func(t *testing.T, db, runID string) {
				postVerdict(true, "secops-lead@contoso.example", "approved before the deadline")(t, db, runID)
				time.Sleep(5 * time.Hour)
			},
			want: playbook.OutcomeContained, out: []string{"is contained after secops-lead@contoso.example approved via cli"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				dir := t.TempDir()
				c := config{db: filepath.Join(dir, "durable.db"), audit: filepath.Join(dir, "durable.jsonl"), logger: slog.New(slog.NewTextHandler(io.Discard, nil))}

				var out bytes.Buffer
				first, err := start(ctx, &out, c)
				require.NoError(t, err, out.String())
				assert.Equal(t, playbook.RunWaiting, first.State)
				assert.Contains(t, out.String(), "approval requested: "+playbook.ApprovalID(first.ID))
				assert.Contains(t, out.String(), "approve "+first.ID+" --by")

				tc.between(t, c.db, first.ID)

				out.Reset()
				second, err := start(ctx, &out, c)
				if tc.wantErr {
					require.Error(t, err, out.String())
				} else {
					require.NoError(t, err, out.String())
				}
				assert.Equal(t, first.ID, second.ID, "the redelivered event is the same run")
				if tc.want == "" {
					assert.Equal(t, playbook.RunWaiting, second.State)
				} else {
					assert.Equal(t, playbook.RunDone, second.State)
					assert.Equal(t, tc.want, second.Outcome)
				}
				for _, s := range tc.out {
					assert.Contains(t, out.String(), s)
				}

				// Both starts wrote one hash chain.
				f, err := os.Open(c.audit)
				require.NoError(t, err)
				defer f.Close()
				rep, err := audit.Verify(f, audit.VerifyOptions{})
				require.NoError(t, err)
				assert.GreaterOrEqual(t, rep.Records, uint64(5), "received, enrichment, decision, approval requested, duplicate")
			})
		})
	}
}

// postVerdict posts a verdict to the store's inbox as `iamplaybook
// approve` and `iamplaybook deny` do (channel "cli", given now), with no
// runner running.
func postVerdict(approve bool, by, reason string) func(t *testing.T, db, runID string) {
	return func(t *testing.T, db, runID string) {
		st, err := sqlite.Open(t.Context(), db, sqlite.Options{MustExist: true})
		require.NoError(t, err)
		defer st.Close()
		r, err := st.GetRun(t.Context(), runID)
		require.NoError(t, err)
		_, err = st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: playbook.ApprovalID(runID), Approver: by, Approve: approve,
			Reason: reason, Channel: "cli", SummaryHash: r.Approval.Request.SummaryHash, At: time.Now().UTC()})
		require.NoError(t, err)
	}
}
