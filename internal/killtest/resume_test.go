package killtest_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/internal/killtest"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// host is one process's worth of runner: a SQLite store and an audit
// trail opened on the test's files, and a runner on them. Starting a new
// host on the same files is what a restarted process does.
type host struct {
	st     *sqlite.Store
	trail  *audit.JSONL
	runner *playbook.Runner
	cancel context.CancelFunc
	done   chan error
}

// files are the durable state shared by successive hosts; the provider
// lives outside them all.
type files struct {
	db, audit string
	ledger    *killtest.Ledger
	// block, when set, is consulted by the provider before it answers a
	// request: it may wait (for the request's context) to hold the step
	// in flight.
	block func(r *http.Request)
}

func newFiles(t *testing.T) *files {
	dir := t.TempDir()
	return &files{db: filepath.Join(dir, "runs.db"), audit: filepath.Join(dir, "audit.jsonl"), ledger: killtest.NewLedger()}
}

// client reaches the ledger without a network, so that the tests can run
// in a synctest bubble.
func (f *files) client() *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		if f.block != nil {
			f.block(r)
		}
		if err := r.Context().Err(); err != nil {
			return nil, err
		}
		rec := httptest.NewRecorder()
		f.ledger.ServeHTTP(rec, r)
		return rec.Result(), nil
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// start opens the files and starts a runner on them, with a drain timeout
// of one second.
func (f *files) start(t *testing.T) *host {
	t.Helper()
	ctx := t.Context()
	st, err := sqlite.Open(ctx, f.db, sqlite.Options{})
	require.NoError(t, err)
	trail, err := audit.OpenJSONL(f.audit, audit.JSONLOptions{})
	require.NoError(t, err)
	pb := killtest.NewPlaybook("http://ledger.test", f.client(), trail)
	r, err := playbook.NewRunner(pb, playbook.Options{Store: st, DrainTimeout: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	h := &host{st: st, trail: trail, runner: r, done: make(chan error, 1)}
	runCtx, cancel := context.WithCancel(ctx)
	h.cancel = cancel
	go func() { h.done <- r.Run(runCtx) }()
	<-r.Ready()
	// Deadlines already due fire on their own goroutine after Ready;
	// let them, so that WaitIdle accounts for the runs they continue.
	synctest.Wait()
	return h
}

// stop stops the runner (it drains for up to a second) and closes the
// files; it returns what Run returned.
func (h *host) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	err := <-h.done
	require.NoError(t, h.trail.Close())
	require.NoError(t, h.st.Close())
	return err
}

func (f *files) records(t *testing.T) []audit.Record {
	t.Helper()
	file, err := os.Open(f.audit)
	require.NoError(t, err)
	defer file.Close()
	_, err = audit.Verify(file, audit.VerifyOptions{})
	require.NoError(t, err, "the trail of all hosts is one intact chain")
	_, err = file.Seek(0, 0)
	require.NoError(t, err)
	recs, err := audit.ReadJSONL(file)
	require.NoError(t, err)
	return recs
}

func (f *files) check(t *testing.T, events []playbook.Event) {
	t.Helper()
	st, err := sqlite.Open(t.Context(), f.db, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	for _, p := range killtest.Check(t.Context(), st, events, f.ledger.Effects(), f.records(t)) {
		t.Error(p)
	}
}

// TestResumeInterruptedStep stops a runner while the second containment
// step is in flight, after the provider applied it but before the runner
// heard back. The next runner on the same file must not execute the first
// step again, and must retry the second with the same idempotency key, so
// that the provider applies nothing twice.
func TestResumeInterruptedStep(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		ev := killtest.Events(1)[0]
		held := make(chan struct{})
		var once sync.Once
		f.block = func(r *http.Request) {
			if !strings.HasSuffix(r.Header.Get("Idempotency-Key"), "/contain/1/"+killtest.Actions[1]) {
				return
			}
			once.Do(func() {
				// The provider applies the step; the answer never
				// reaches the runner, which is shut down meanwhile.
				f.ledger.ServeHTTP(httptest.NewRecorder(), r)
				close(held)
				<-r.Context().Done()
			})
		}

		h := f.start(t)
		id, err := h.runner.Handle(t.Context(), ev)
		require.NoError(t, err)
		<-held
		err = h.stop(t)
		require.ErrorContains(t, err, "drain timed out", "the drain gave up on the held step")

		key0, key1 := id+"/contain/0/"+killtest.Actions[0], id+"/contain/1/"+killtest.Actions[1]
		require.Equal(t, map[string]int{key0: 1, key1: 1}, f.ledger.Effects())

		f.block = nil
		h = f.start(t)
		require.NoError(t, h.runner.WaitIdle(t.Context()))
		steps, err := h.st.Steps(t.Context(), id)
		require.NoError(t, err)
		require.NoError(t, h.stop(t))

		assert.Equal(t, 1, f.ledger.Calls(key0), "a completed step is never executed again")
		assert.Equal(t, 2, f.ledger.Calls(key1), "the interrupted step is retried once")
		byID := map[string]playbook.StepRecord{}
		for _, s := range steps {
			byID[s.StepID] = s
		}
		assert.Equal(t, 1, byID["contain/0/"+killtest.Actions[0]].Attempt)
		s1 := byID["contain/1/"+killtest.Actions[1]]
		assert.Equal(t, 2, s1.Attempt)
		assert.Equal(t, key1, s1.IdempotencyKey, "the retry carries the same key")
		assert.Equal(t, playbook.StepDone, s1.Status)
		assert.JSONEq(t, `"already-applied"`, string(mustField(t, s1.Result, "status")))

		var intents []audit.Record
		for _, rec := range f.records(t) {
			if rec.Type == audit.TypeActionIntent && rec.IdempotencyKey == key1 {
				intents = append(intents, rec)
			}
		}
		require.Len(t, intents, 2)
		assert.Equal(t, true, intents[1].Data["resumed"])
		f.check(t, []playbook.Event{ev})
	})
}

// TestResumeApprovalWait stops a runner while a run waits for approval
// and restarts it after something happened while no runner ran.
func TestResumeApprovalWait(t *testing.T) {
	t.Parallel()
	const lead = "secops-lead@contoso.example"
	post := func(approver string, approve bool) func(t *testing.T, st *sqlite.Store, runID string) {
		return func(t *testing.T, st *sqlite.Store, runID string) {
			_, err := st.PostVerdict(t.Context(), playbook.Verdict{ApprovalID: playbook.ApprovalID(runID), Approver: approver, Approve: approve,
				Reason: "checked", Channel: "cli", At: time.Now().UTC()})
			require.NoError(t, err)
		}
	}
	tests := []struct {
		name string
		// down happens while no runner runs (st is a store opened by
		// another process, such as the operator CLI).
		down func(t *testing.T, st *sqlite.Store, runID string)
		// up happens once the new runner runs.
		up      func(t *testing.T, h *host, runID string)
		outcome playbook.Outcome // "" means still waiting
		status  playbook.ApprovalStatus
		audited audit.Type
	}{
		{name: "a verdict posted while down continues the run on start",
			down: post(lead, true), outcome: playbook.OutcomeContained, status: playbook.ApprovalApproved, audited: audit.TypeVerdict},
		{name: "a deadline that passed while down fires on start: deny and escalate",
			down:    func(*testing.T, *sqlite.Store, string) { time.Sleep(2 * time.Hour) },
			outcome: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, audited: audit.TypeApprovalExpired},
		{name: "a verdict given in time counts though the runner starts after the deadline",
			down: func(t *testing.T, st *sqlite.Store, runID string) {
				post(lead, true)(t, st, runID)
				time.Sleep(2 * time.Hour)
			},
			outcome: playbook.OutcomeContained, status: playbook.ApprovalApproved, audited: audit.TypeVerdict},
		{name: "a verdict submitted after the restart is accepted and continues the run",
			down: func(*testing.T, *sqlite.Store, string) { time.Sleep(30 * time.Minute) },
			up: func(t *testing.T, h *host, runID string) {
				require.NoError(t, h.runner.Submit(t.Context(), playbook.Verdict{ApprovalID: playbook.ApprovalID(runID), Approver: lead, Approve: true, Channel: "web"}))
			},
			outcome: playbook.OutcomeContained, status: playbook.ApprovalApproved, audited: audit.TypeVerdict},
		{name: "a verdict posted by the subject is refused and the run keeps waiting",
			down:   post(killtest.Events(1)[0].Subject.Login, true),
			status: playbook.ApprovalPending, audited: audit.TypeVerdictRejected},
		{name: "the deadline still fires after the restart",
			down: func(*testing.T, *sqlite.Store, string) {},
			up: func(t *testing.T, h *host, runID string) {
				time.Sleep(61 * time.Minute)
				synctest.Wait()
			},
			outcome: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, audited: audit.TypeApprovalExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f := newFiles(t)
				ev := killtest.Events(1)[0]
				ev.Attributes = map[string]string{killtest.AttrApproval: "yes"}

				h := f.start(t)
				id, err := h.runner.Handle(t.Context(), ev)
				require.NoError(t, err)
				require.NoError(t, h.runner.WaitIdle(t.Context()))
				require.NoError(t, h.stop(t))

				other, err := sqlite.Open(t.Context(), f.db, sqlite.Options{MustExist: true})
				require.NoError(t, err)
				r, err := other.GetRun(t.Context(), id)
				require.NoError(t, err)
				require.Equal(t, playbook.RunWaiting, r.State)
				tc.down(t, other, id)
				require.NoError(t, other.Close())

				h = f.start(t)
				if tc.up != nil {
					tc.up(t, h, id)
				}
				require.NoError(t, h.runner.WaitIdle(t.Context()))
				r, err = h.st.GetRun(t.Context(), id)
				require.NoError(t, err)
				require.NoError(t, h.stop(t))

				assert.Equal(t, tc.status, r.Approval.Status)
				assert.Equal(t, tc.outcome, r.Outcome)
				if tc.outcome == "" {
					assert.Equal(t, playbook.RunWaiting, r.State)
				}
				effects := 0
				for _, n := range f.ledger.Effects() {
					effects += n
				}
				if tc.outcome == playbook.OutcomeContained {
					assert.Equal(t, len(killtest.Actions), effects)
					f.check(t, []playbook.Event{ev})
				} else {
					assert.Zero(t, effects, "nothing is contained without an approving verdict")
				}
				var types []audit.Type
				for _, rec := range f.records(t) {
					if rec.RunID == id || rec.Type == tc.audited {
						types = append(types, rec.Type)
					}
				}
				assert.Contains(t, types, tc.audited)
			})
		})
	}
}

// TestDedupSurvivesRestart delivers an event again after a restart: it is
// a duplicate of the first run, and nothing runs twice.
func TestDedupSurvivesRestart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		events := killtest.Events(3)
		h := f.start(t)
		ids := map[string]string{}
		for _, ev := range events {
			id, err := h.runner.Handle(t.Context(), ev)
			require.NoError(t, err)
			ids[ev.ID] = id
		}
		require.NoError(t, h.runner.WaitIdle(t.Context()))
		require.NoError(t, h.stop(t))
		before := f.ledger.Total()

		time.Sleep(time.Hour) // well inside the default 24h window
		h = f.start(t)
		for _, ev := range events {
			id, err := h.runner.Handle(t.Context(), ev)
			require.ErrorIs(t, err, playbook.ErrDuplicate)
			assert.Equal(t, ids[ev.ID], id, "the duplicate names the first run")
		}
		require.NoError(t, h.runner.WaitIdle(t.Context()))
		require.NoError(t, h.stop(t))
		assert.Equal(t, before, f.ledger.Total())
		f.check(t, events)
	})
}

// TestSecondRunnerFailsFast starts a second runner on a file a first one
// holds: it must fail at once with ErrStoreLocked and run nothing, and
// start normally once the first has stopped.
func TestSecondRunnerFailsFast(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFiles(t)
		first := f.start(t)

		st, err := sqlite.Open(t.Context(), f.db, sqlite.Options{})
		require.NoError(t, err)
		pb := killtest.NewPlaybook("http://ledger.test", f.client(), audit.NewMemory())
		second, err := playbook.NewRunner(pb, playbook.Options{Store: st, Owner: "second runner"})
		require.NoError(t, err)
		err = second.Run(t.Context())
		require.ErrorIs(t, err, playbook.ErrStoreLocked)
		_, err = second.Handle(t.Context(), killtest.Events(1)[0])
		require.ErrorIs(t, err, playbook.ErrRunnerClosed)
		require.NoError(t, st.Close())

		id, err := first.runner.Handle(t.Context(), killtest.Events(1)[0])
		require.NoError(t, err, "the first runner is unaffected")
		require.NoError(t, first.runner.WaitIdle(t.Context()))
		require.NoError(t, first.stop(t))

		third := f.start(t)
		_, err = third.runner.Handle(t.Context(), killtest.Events(1)[0])
		require.ErrorIs(t, err, playbook.ErrDuplicate)
		r, err := third.st.GetRun(t.Context(), id)
		require.NoError(t, err)
		require.NoError(t, third.stop(t))
		assert.Equal(t, playbook.OutcomeContained, r.Outcome)
	})
}

func mustField(t *testing.T, raw []byte, field string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw, &m))
	v, ok := m[field]
	require.True(t, ok, "field %q in %s", field, raw)
	return v
}
