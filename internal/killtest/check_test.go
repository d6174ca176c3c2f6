package killtest_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/internal/killtest"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// world is what Check reads: runs, provider effects and audit records.
type world struct {
	runs    []playbook.Run
	effects map[string]int
	records []audit.Record
}

// goodWorld is a world in which every guarantee holds for events.
func goodWorld(events []playbook.Event) world {
	w := world{effects: map[string]int{}}
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	add := func(rec audit.Record) {
		rec.Seq = uint64(len(w.records) + 1)
		rec.Time = at
		w.records = append(w.records, rec)
	}
	for i, ev := range events {
		id := fmt.Sprintf("run-%d", i)
		out := killtest.Expected(ev)
		r := playbook.Run{ID: id, Event: ev, Subject: ev.Subject.Key(), State: playbook.RunDone, Outcome: out,
			CreatedAt: at.Add(time.Duration(i)), UpdatedAt: at}
		if killtest.NeedsApproval(ev) {
			v := playbook.Verdict{ApprovalID: playbook.ApprovalID(id), Approver: killtest.Approver, Approve: true, Channel: "cli", At: at}
			r.Approval = &playbook.Approval{Status: playbook.ApprovalApproved, Verdicts: []playbook.Verdict{v}, DecidedAt: at,
				Request: playbook.ApprovalRequest{ID: v.ApprovalID, RunID: id, Deadline: at.Add(time.Hour)}}
			add(audit.Record{Type: audit.TypeVerdict, RunID: id, Actor: v.Approver, Outcome: string(playbook.ApprovalApproved)})
		}
		w.runs = append(w.runs, r)
		if out == playbook.OutcomeContained {
			for j, a := range killtest.Actions {
				key := fmt.Sprintf("%s/contain/%d/%s", id, j, a)
				w.effects[key] = 1
				add(audit.Record{Type: audit.TypeActionIntent, RunID: id, IdempotencyKey: key})
				add(audit.Record{Type: audit.TypeActionResult, RunID: id, IdempotencyKey: key, Outcome: string(playbook.StatusApplied)})
			}
		}
		add(audit.Record{Type: audit.TypeRunResolved, RunID: id, Outcome: string(out)})
	}
	return w
}

func (w world) check(t *testing.T, events []playbook.Event) []error {
	t.Helper()
	st := store.NewMemory()
	for _, r := range w.runs {
		require.NoError(t, st.CreateRun(t.Context(), r))
	}
	return killtest.Check(t.Context(), st, events, w.effects, w.records)
}

// TestCheckFindsViolations breaks one guarantee at a time in a world
// where all hold, and requires Check to report exactly that: the kill
// test's verdict is only worth what its checker catches.
func TestCheckFindsViolations(t *testing.T) {
	t.Parallel()
	events := killtest.Events(10)
	const key0 = "run-0/contain/0/disable-user"
	tests := []struct {
		name   string
		mutate func(w *world)
		want   string // "" means no violation
	}{
		{name: "all guarantees hold", mutate: func(*world) {}},
		{name: "a key applied twice with effect", mutate: func(w *world) { w.effects[key0] = 2 },
			want: "idempotency key " + key0 + " was applied 2 times with effect"},
		{name: "a contained run whose step never reached the provider", mutate: func(w *world) { delete(w.effects, key0) },
			want: "step disable-user of contained run run-0 was applied 0 times"},
		{name: "a key applied that belongs to no step", mutate: func(w *world) { w.effects["run-6/contain/0/disable-user"] = 1 },
			want: "belongs to no containment step"},
		{name: "an event with two runs", mutate: func(w *world) {
			r := w.runs[1]
			r.ID = "run-1b"
			w.runs = append(w.runs, r)
		}, want: "event ev-00001 has 2 runs, want exactly 1"},
		{name: "an event without a run", mutate: func(w *world) { w.runs = w.runs[1:] }, want: "event ev-00000 has 0 runs"},
		{name: "an unfinished run", mutate: func(w *world) { w.runs[7].State, w.runs[7].Outcome = playbook.RunRunning, "" },
			want: "event ev-00007: run run-7 is running"},
		{name: "a wrong outcome", mutate: func(w *world) { w.runs[8].Outcome = playbook.OutcomeEscalated },
			want: `want done/"logged"`},
		{name: "two different terminal outcomes in the trail", mutate: func(w *world) {
			w.records = append(w.records, audit.Record{Seq: 999, Type: audit.TypeRunResolved, RunID: "run-9", Outcome: "escalated"})
		}, want: `run run-9 has a run.resolved record saying "escalated"`},
		{name: "a run without a run.resolved record", mutate: func(w *world) { w.records = dropRecords(w.records, audit.TypeRunResolved, "run-6") },
			want: "run run-6 has no run.resolved audit record"},
		{name: "a step executed without an intent", mutate: func(w *world) { w.records = dropRecords(w.records, audit.TypeActionIntent, "run-0") },
			want: "was executed without an action.intent audit record"},
		{name: "a step executed without a result", mutate: func(w *world) { w.records = dropRecords(w.records, audit.TypeActionResult, "run-0") },
			want: "has no successful action.result audit record after its intent"},
		{name: "a result that failed does not count", mutate: func(w *world) {
			for i := range w.records {
				if w.records[i].Type == audit.TypeActionResult && w.records[i].IdempotencyKey == key0 {
					w.records[i].Outcome = "failed"
				}
			}
		}, want: "step " + key0 + " was executed but has no successful action.result"},
		{name: "a gated run contained without an approval", mutate: func(w *world) { w.runs[5].Approval = nil },
			want: "run run-5 needs an approval but holds no approved approval with an approving verdict"},
		{name: "a gated run whose approval holds only denials", mutate: func(w *world) { w.runs[5].Approval.Verdicts[0].Approve = false },
			want: "run run-5 needs an approval but holds no approved approval"},
		{name: "a gated run without the verdict in the trail", mutate: func(w *world) { w.records = dropRecords(w.records, audit.TypeVerdict, "run-5") },
			want: "run run-5 has no approving approval.verdict audit record"},
		{name: "a gated run that acted before its verdict", mutate: func(w *world) {
			for i := range w.records {
				if w.records[i].Type == audit.TypeVerdict {
					w.records[i].Seq = 10_000
				}
			}
		}, want: "run run-5 recorded an action.intent (seq"},
		{name: "an approval on a run that needs none", mutate: func(w *world) {
			w.runs[0].Approval = &playbook.Approval{Status: playbook.ApprovalApproved}
		}, want: "run run-0 has an approval, but its event needs none"},
		{name: "a run for an event never sent", mutate: func(w *world) {
			ev := killtest.Events(11)[10]
			w.runs = append(w.runs, playbook.Run{ID: "run-x", Event: ev, Subject: ev.Subject.Key(), State: playbook.RunDone, Outcome: playbook.OutcomeLogged})
		}, want: "event ev-00010, which was never sent, has 1 runs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := goodWorld(events)
			tc.mutate(&w)
			errs := w.check(t, events)
			if tc.want == "" {
				assert.Empty(t, errs)
				return
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			assert.Contains(t, strings.Join(msgs, "\n"), tc.want)
		})
	}
}

func dropRecords(recs []audit.Record, typ audit.Type, runID string) []audit.Record {
	var out []audit.Record
	for _, r := range recs {
		if r.Type != typ || r.RunID != runID {
			out = append(out, r)
		}
	}
	return out
}

// TestLedger checks the provider's wire behaviour: the first request with
// a key applies, a repeat does not (unless keys are ignored), and bad
// requests get clear statuses.
func TestLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ignoreKeys bool
		method     string
		path, key  string
		repeat     int
		status     int
		body       string
		effects    int
	}{
		{name: "the first request applies", method: http.MethodPost, path: "/users/u-1/disable-user", key: "k1", repeat: 1, status: 200, body: `"status":"applied"`, effects: 1},
		{name: "a repeat with the same key does not", method: http.MethodPost, path: "/users/u-1/disable-user", key: "k1", repeat: 3, status: 200, body: `"status":"already-applied"`, effects: 1},
		{name: "a provider ignoring keys applies again", ignoreKeys: true, method: http.MethodPost, path: "/users/u-1/revoke-sessions", key: "k1", repeat: 3, status: 200, body: `"application":3`, effects: 3},
		{name: "a request without a key is refused", method: http.MethodPost, path: "/users/u-1/disable-user", repeat: 1, status: 400, body: "Idempotency-Key header is required"},
		{name: "an unknown action is not found", method: http.MethodPost, path: "/users/u-1/delete-user", key: "k", repeat: 1, status: 404},
		{name: "a GET is not allowed", method: http.MethodGet, path: "/users/u-1/disable-user", key: "k", repeat: 1, status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l := killtest.NewLedger()
			l.IgnoreKeys = tc.ignoreKeys
			var rec *httptest.ResponseRecorder
			for range tc.repeat {
				req := httptest.NewRequestWithContext(context.Background(), tc.method, tc.path, nil)
				if tc.key != "" {
					req.Header.Set("Idempotency-Key", tc.key)
				}
				rec = httptest.NewRecorder()
				l.ServeHTTP(rec, req)
			}
			assert.Equal(t, tc.status, rec.Code)
			assert.Contains(t, rec.Body.String(), tc.body)
			assert.Equal(t, tc.effects, l.Effects()[tc.key])
			assert.Equal(t, tc.effects, l.Total())
		})
	}
}
