package playbooktest

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// Harness runs one playbook for one test. Its fields are the in-memory
// parts it built; a test may read them directly.
type Harness struct {
	t testing.TB
	// Runner is the runner under test.
	Runner *playbook.Runner
	// Store is the run store.
	Store playbook.Store
	// Audit holds every audit record the runner wrote.
	Audit *audit.Memory
	// Tickets is the ticketer, unless the playbook brought its own.
	Tickets *audit.MemoryTicketer
	// Approvals records approval requests, and submits verdicts.
	Approvals *approve.Queue

	cancel context.CancelFunc
	done   chan error
}

// Options adjust the harness. The zero value is fine.
type Options struct {
	// Runner options; Store defaults to a new in-memory store.
	Runner playbook.Options
	// Bubble says the harness runs inside a testing/synctest bubble; New
	// detects it by itself, so set it only to force the behaviour.
	Bubble bool
}

// New starts p on a runner for the duration of the test. It adds an
// in-memory audit sink to p.Audit (so p.Audit may be empty), sets an
// in-memory ticketer when p.Ticketer is nil, and, when p.Approver is nil,
// an approval queue (otherwise the queue is notified alongside p.Approver).
// The runner stops when the test ends; the test fails if it does not
// drain cleanly.
func New(t testing.TB, p playbook.Playbook, opts ...Options) *Harness {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	h := &Harness{t: t, Audit: audit.NewMemory(), Approvals: approve.NewQueue(), done: make(chan error, 1)}
	p.Audit = append(slices.Clone(p.Audit), h.Audit)
	if p.Ticketer == nil {
		h.Tickets = audit.NewMemoryTicketer()
		p.Ticketer = h.Tickets
	}
	if p.Approver == nil {
		p.Approver = h.Approvals
	} else {
		if ev, ok := p.Approver.(playbook.VerdictEvaluator); ok && p.ApprovalRule == nil {
			p.ApprovalRule = ev // keep the approver's own rule through the fan-out
		}
		p.Approver = approve.Fanout(h.Approvals, p.Approver)
	}
	ro := o.Runner
	if ro.Logger == nil {
		ro.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if ro.Store == nil {
		ro.Store = store.NewMemory()
	}
	h.Store = ro.Store
	r, err := playbook.NewRunner(p, ro)
	if err != nil {
		t.Fatalf("playbooktest: %v", err)
	}
	h.Runner = r
	h.Approvals.Bind(r)
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- r.Run(ctx) }()
	t.Cleanup(h.Close)
	select {
	case <-r.Ready():
	case err := <-h.done:
		h.cancel = nil
		t.Fatalf("playbooktest: runner stopped at start: %v", err)
	}
	return h
}

// testWriter sends the runner's diagnostics to the test log, shown when the
// test fails or runs verbose.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// Close stops the runner and waits for it to drain; it is called
// automatically when the test ends and may be called earlier.
func (h *Harness) Close() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	h.cancel = nil
	if err := <-h.done; err != nil {
		h.t.Errorf("playbooktest: runner did not drain cleanly: %v", err)
	}
}

// Fire hands ev to the runner and returns the run id; the test fails if the
// event is refused. Use Handle to test refusals.
func (h *Harness) Fire(ev playbook.Event) string {
	h.t.Helper()
	id, err := h.Runner.Handle(context.Background(), ev)
	if err != nil {
		h.t.Fatalf("playbooktest: event %q refused: %v", ev.ID, err)
	}
	return id
}

// Handle hands ev to the runner and returns what Handle returned.
func (h *Harness) Handle(ev playbook.Event) (string, error) {
	return h.Runner.Handle(context.Background(), ev)
}

// Settle waits until every run handed in so far has finished or is waiting
// for approval. Inside a synctest bubble it also waits for every other
// goroutine of the bubble to block, so that background work is done.
func (h *Harness) Settle() {
	h.t.Helper()
	if inBubble() {
		// Fake time: a wait that can never end is reported by synctest
		// as a deadlock, so no timeout is needed (and one would fire
		// before slow fake work finished).
		if err := h.Runner.WaitIdle(context.Background()); err != nil {
			h.t.Fatalf("playbooktest: runs did not settle: %v", err)
		}
		synctest.Wait()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := h.Runner.WaitIdle(ctx); err != nil {
		h.t.Fatalf("playbooktest: runs did not settle within a minute: %v", err)
	}
}

// Advance moves time forward by d and settles. It must be called inside a
// testing/synctest bubble, where time.Sleep advances the fake clock.
func (h *Harness) Advance(d time.Duration) {
	h.t.Helper()
	if !inBubble() {
		h.t.Fatalf("playbooktest: Advance needs a testing/synctest bubble")
	}
	time.Sleep(d)
	h.Settle()
}

// inBubble reports whether the caller runs inside a synctest bubble, where
// synctest.Wait works (outside one it panics).
func inBubble() (inside bool) {
	defer func() {
		if recover() != nil {
			inside = false
		}
	}()
	synctest.Wait()
	return true
}

// Run returns the stored run; the test fails if it does not exist.
func (h *Harness) Run(id string) playbook.Run {
	h.t.Helper()
	r, err := h.Store.GetRun(context.Background(), id)
	if err != nil {
		h.t.Fatalf("playbooktest: run %s: %v", id, err)
	}
	return r
}

// Outcome returns the run's terminal outcome, or "" while it is unfinished.
func (h *Harness) Outcome(id string) playbook.Outcome {
	h.t.Helper()
	return h.Run(id).Outcome
}

// RequireOutcome fails the test unless run id ended with want.
func (h *Harness) RequireOutcome(id string, want playbook.Outcome) {
	h.t.Helper()
	r := h.Run(id)
	if r.State != playbook.RunDone || r.Outcome != want {
		h.t.Fatalf("playbooktest: run %s: state %s, outcome %q, want done with %q (error: %q)", id, r.State, r.Outcome, want, r.Error)
	}
}

// RequireWaiting fails the test unless run id waits for a verdict, and
// returns its approval request.
func (h *Harness) RequireWaiting(id string) playbook.ApprovalRequest {
	h.t.Helper()
	r := h.Run(id)
	if r.State != playbook.RunWaiting || r.Approval == nil || r.Approval.Status != playbook.ApprovalPending {
		h.t.Fatalf("playbooktest: run %s: state %s, want waiting for approval", id, r.State)
	}
	return r.Approval.Request
}

// Approve submits an approving verdict on run id's approval, as approver,
// through channel "test", and settles.
func (h *Harness) Approve(id, approver, reason string) error {
	return h.verdict(id, approver, reason, true)
}

// Deny submits a denying verdict on run id's approval and settles.
func (h *Harness) Deny(id, approver, reason string) error {
	return h.verdict(id, approver, reason, false)
}

func (h *Harness) verdict(id, approver, reason string, ok bool) error {
	err := h.Runner.Submit(context.Background(), playbook.Verdict{
		ApprovalID: playbook.ApprovalID(id), Approver: approver, Approve: ok, Reason: reason, Channel: "test",
	})
	h.Settle()
	return err
}

// Records returns the audit records of the given types (all when none is
// given), oldest first.
func (h *Harness) Records(types ...audit.Type) []audit.Record {
	return h.Audit.Filter(func(r audit.Record) bool { return len(types) == 0 || slices.Contains(types, r.Type) })
}

// RunRecords returns the audit records of run id, oldest first.
func (h *Harness) RunRecords(id string) []audit.Record {
	return h.Audit.Filter(func(r audit.Record) bool { return r.RunID == id })
}

// CheckInvariants verifies the guarantees that hold for every run in the
// store, and fails the test naming each violation:
//   - a finished run has exactly one run.resolved record, with its outcome;
//     an unfinished run is visibly waiting for approval;
//   - every action.intent is followed by an action.result for the same
//     step and attempt, and every result has its intent before it;
//   - no containment step of an approval-gated decision ran without an
//     approving verdict recorded before it.
func (h *Harness) CheckInvariants() {
	h.t.Helper()
	for _, err := range Invariants(context.Background(), h.Store, h.Audit.Records()) {
		h.t.Error(err)
	}
}

// Invariants returns every violation of the run guarantees found in a store
// and an audit trail (see Harness.CheckInvariants). It is exported for
// harnesses of other engines and for checks over a JSONL trail read back
// with audit.ReadJSONL.
func Invariants(ctx context.Context, st playbook.Store, records []audit.Record) []error {
	var errs []error
	runs, err := st.ListRuns(ctx, playbook.RunFilter{})
	if err != nil {
		return []error{err}
	}
	byRun := make(map[string][]audit.Record)
	for _, r := range records {
		if r.RunID != "" {
			byRun[r.RunID] = append(byRun[r.RunID], r)
		}
	}
	for _, run := range runs {
		recs := byRun[run.ID]
		var resolved []audit.Record
		open := map[string]int{}
		approvedAt := -1
		for i, r := range recs {
			switch r.Type {
			case audit.TypeRunResolved:
				resolved = append(resolved, r)
			case audit.TypeVerdict:
				if r.Outcome == string(playbook.ApprovalApproved) && approvedAt < 0 {
					approvedAt = i
				}
			case audit.TypeActionIntent:
				open[r.Step]++
				if run.Decision != nil && run.Decision.Response == playbook.RespondApprove && !run.DryRun && approvedAt < 0 {
					errs = append(errs, fmt.Errorf("run %s: step %s of an approval-gated decision started without an approving verdict", run.ID, r.Step))
				}
			case audit.TypeActionResult:
				if open[r.Step] == 0 {
					errs = append(errs, fmt.Errorf("run %s: action.result for step %s without an intent before it", run.ID, r.Step))
				} else {
					open[r.Step]--
				}
			}
		}
		for step, n := range open {
			if n > 0 {
				errs = append(errs, fmt.Errorf("run %s: step %s has an intent without a result", run.ID, step))
			}
		}
		switch run.State {
		case playbook.RunDone:
			if len(resolved) != 1 {
				errs = append(errs, fmt.Errorf("run %s: %d run.resolved records, want exactly 1", run.ID, len(resolved)))
			} else if resolved[0].Outcome != string(run.Outcome) {
				errs = append(errs, fmt.Errorf("run %s: resolved as %q in the audit but %q in the store", run.ID, resolved[0].Outcome, run.Outcome))
			}
		case playbook.RunWaiting:
			if run.Approval == nil {
				errs = append(errs, fmt.Errorf("run %s: waiting without an approval request", run.ID))
			}
			if len(resolved) != 0 {
				errs = append(errs, fmt.Errorf("run %s: waiting but resolved in the audit", run.ID))
			}
		default:
			errs = append(errs, fmt.Errorf("run %s: unfinished (state %s) and not waiting for approval", run.ID, run.State))
		}
	}
	return errs
}
