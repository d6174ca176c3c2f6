package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Run runs the conformance cases against stores built by newStore. newStore
// is called once per case, from that case's subtest, and must return a
// fresh, empty store (for the Locker case: one whose lock nobody holds); it may call t.Fatal and should register any cleanup
// (closing files) with t.Cleanup. Cases run in parallel with each other.
func Run(t *testing.T, newStore func(t *testing.T) playbook.Store) {
	t.Helper()
	for _, c := range slices.Concat(cases, capabilityCases) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t.Log("rule:", c.rule)
			s := newStore(t)
			if s == nil {
				t.Fatal("newStore returned a nil store")
			}
			c.run(t, &checker{t: t, rule: c.rule}, s)
		})
	}
}

type storeCase struct {
	name string
	rule string
	run  func(t *testing.T, c *checker, s playbook.Store)
}

var cases = []storeCase{
	{
		name: "CreateGetRoundTrip",
		rule: "CreateRun stores every field of a run (decision, approval with verdicts, event attributes and raw payload, times as the same instant) and GetRun returns it with Version 1, whatever Version was passed in",
		run:  testRoundTrip,
	},
	{
		name: "DuplicateCreate",
		rule: "CreateRun with an id already stored fails with ErrRunExists and leaves the stored run unchanged",
		run:  testDuplicateCreate,
	},
	{
		name: "UpdateCompareAndSwap",
		rule: "UpdateRun replaces the run only when its Version equals the stored one and returns the stored run with Version+1; a stale or future Version fails with ErrVersionConflict and leaves the stored run unchanged",
		run:  testCompareAndSwap,
	},
	{
		name: "ConcurrentWritersLoseNothing",
		rule: "16 goroutines each doing read-modify-write loops with UpdateRun, retrying on ErrVersionConflict, lose no update: every increment is stored exactly once and Version counts every update",
		run:  testConcurrentWriters,
	},
	{
		name: "InputsAreCopied",
		rule: "the store does not retain values passed in: changing a run or step after CreateRun, UpdateRun or PutStep returned does not change what is stored",
		run:  testInputsCopied,
	},
	{
		name: "OutputsAreCopies",
		rule: "values returned by GetRun, UpdateRun, ListRuns and Steps are the caller's: changing their maps, slices and bytes does not change what is stored",
		run:  testOutputsCopied,
	},
	{
		name: "ListRunsFiltersAndOrders",
		rule: "ListRuns returns the runs whose current state and subject match the filter (zero fields match all), oldest CreatedAt first with ties in creation order, and at most Limit of them when Limit > 0",
		run:  testListRuns,
	},
	{
		name: "StepsKeepFirstPutOrder",
		rule: "PutStep upserts by (RunID, StepID): a new step is appended, a repeated one is replaced in place, so Steps returns each run's journal in first-put order with the latest content",
		run:  testSteps,
	},
	{
		name: "ClaimEventExpiry",
		rule: "ClaimEvent gives a key to the first claimer; while now is before the claim's expiry every other claim (even by the owner) returns the owner and false and changes nothing; from the expiry instant on, a new claim succeeds",
		run:  testClaimExpiry,
	},
	{
		name: "ConcurrentClaimsOneWinner",
		rule: "32 goroutines claiming one key at once produce exactly one winner, and every caller is told the same owner",
		run:  testConcurrentClaims,
	},
	{
		name: "UnknownRun",
		rule: "GetRun and UpdateRun of an id never created fail with ErrRunNotFound; Steps of it returns an empty journal and no error; ListRuns of an empty store returns nothing",
		run:  testUnknownRun,
	},
}

// checker reports failures with the case's rule attached.
type checker struct {
	t    *testing.T
	rule string
}

func (c *checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s\nrule: %s", fmt.Sprintf(format, args...), c.rule)
}

func (c *checker) fatalf(format string, args ...any) {
	c.t.Helper()
	c.t.Fatalf("%s\nrule: %s", fmt.Sprintf(format, args...), c.rule)
}

// noErr stops the case if err is not nil.
func (c *checker) noErr(err error, what string) {
	c.t.Helper()
	if err != nil {
		c.fatalf("%s: unexpected error: %v", what, err)
	}
}

// isErr reports a failure unless err wraps want.
func (c *checker) isErr(err, want error, what string) {
	c.t.Helper()
	if !errors.Is(err, want) {
		c.errorf("%s: got error %v, want one wrapping %q", what, err, want)
	}
}

// sameRun reports a failure unless got and want hold the same data: every
// field equal, times as the same instant, Event.Raw byte for byte.
func (c *checker) sameRun(got, want playbook.Run, what string) {
	c.t.Helper()
	g, w := encodeRun(c.t, got), encodeRun(c.t, want)
	if g != w {
		c.errorf("%s: stored run differs\n got: %s\nwant: %s", what, g, w)
	}
	if !bytes.Equal(got.Event.Raw, want.Event.Raw) {
		c.errorf("%s: Event.Raw is %q, want %q byte for byte", what, got.Event.Raw, want.Event.Raw)
	}
}

// sameSteps reports a failure unless got and want hold the same records in
// the same order, Result byte for byte.
func (c *checker) sameSteps(got, want []playbook.StepRecord, what string) {
	c.t.Helper()
	g, w := encodeSteps(c.t, got), encodeSteps(c.t, want)
	if g != w {
		c.errorf("%s: journal differs\n got: %s\nwant: %s", what, g, w)
		return
	}
	for i := range got {
		if !bytes.Equal(got[i].Result, want[i].Result) {
			c.errorf("%s: step %q Result is %q, want %q byte for byte", what, got[i].StepID, got[i].Result, want[i].Result)
		}
	}
}

// encodeRun renders r as JSON with every time in UTC, so that two runs
// holding the same instants in different locations encode alike.
func encodeRun(t *testing.T, r playbook.Run) string {
	t.Helper()
	r = r.Clone()
	r.Event.OccurredAt = r.Event.OccurredAt.UTC()
	r.CreatedAt = r.CreatedAt.UTC()
	r.UpdatedAt = r.UpdatedAt.UTC()
	if r.Approval != nil {
		a := r.Approval
		a.DecidedAt = a.DecidedAt.UTC()
		a.Request.RequestedAt = a.Request.RequestedAt.UTC()
		a.Request.Deadline = a.Request.Deadline.UTC()
		for i := range a.Verdicts {
			a.Verdicts[i].At = a.Verdicts[i].At.UTC()
		}
		for i := range a.Notices {
			a.Notices[i].Due = a.Notices[i].Due.UTC()
			a.Notices[i].SentAt = a.Notices[i].SentAt.UTC()
		}
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("encoding run %q for comparison: %v", r.ID, err)
	}
	return string(b)
}

func encodeSteps(t *testing.T, steps []playbook.StepRecord) string {
	t.Helper()
	steps = slices.Clone(steps)
	for i := range steps {
		steps[i].StartedAt = steps[i].StartedAt.UTC()
		steps[i].EndedAt = steps[i].EndedAt.UTC()
	}
	if len(steps) == 0 {
		return "[]"
	}
	b, err := json.Marshal(steps)
	if err != nil {
		t.Fatalf("encoding steps for comparison: %v", err)
	}
	return string(b)
}

// base is the time the cases build their data around. It is in a zone
// other than UTC, with a nanosecond part, so that a store that loses either
// the instant or the precision fails.
var base = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("UTC+2", 2*60*60))

// fullRun returns a run with every field set.
func fullRun(id, subjectID string, state playbook.RunState, created time.Time) playbook.Run {
	subject := playbook.Subject{Provider: "fake", ID: subjectID, Login: subjectID + "@example.com", DisplayName: "User " + subjectID}
	decision := playbook.Decision{
		Response: playbook.RespondApprove,
		Steps: []playbook.Step{
			{Action: "revoke-sessions"},
			{Action: "remove-role", Params: map[string]string{"role": "Global Administrator", "scope": "/"}},
		},
		Rule:     "high-risk-privileged",
		Reason:   "high risk sign-in by a privileged account",
		Approval: "security-leads-2of3",
		Notes:    []string{"budget: 1 of 5 automatic containments used"},
	}
	return playbook.Run{
		ID: id,
		Event: playbook.Event{
			ID:         "evt-" + id,
			Type:       playbook.EventRiskySignIn,
			Source:     "fake-trigger",
			Subject:    subject,
			Actor:      "admin@example.com",
			Risk:       playbook.RiskHigh,
			Reason:     "unfamiliarFeatures",
			OccurredAt: created.Add(-time.Minute),
			Attributes: map[string]string{"ip": "203.0.113.7", "location": "Lisbon, PT"},
			Raw:        json.RawMessage(`{"id": "evt-` + id + `", "riskLevel": "high",  "nested": {"a": [1, 2.50, "x"]}}`),
		},
		Subject:  subject.Key(),
		State:    state,
		Outcome:  playbook.OutcomeEscalated,
		DryRun:   true,
		Decision: &decision,
		Approval: &playbook.Approval{
			Request: playbook.ApprovalRequest{
				ID:          "apr-" + id,
				RunID:       id,
				Subject:     subject,
				Actor:       "admin@example.com",
				Identities:  []string{subject.ID, "alice@example.com"},
				Risk:        playbook.RiskHigh,
				Decision:    decision.Clone(),
				Summary:     "contain " + subjectID,
				SummaryHash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
				RequestedAt: created.Add(time.Second),
				Deadline:    created.Add(time.Hour),
			},
			Status: playbook.ApprovalDenied,
			Verdicts: []playbook.Verdict{
				{ApprovalID: "apr-" + id, Approver: "lead1@example.com", Approve: true, Reason: "looks bad", Channel: "web", SummaryHash: "9f86d0", At: created.Add(2 * time.Second)},
				{ApprovalID: "apr-" + id, Approver: "lead2@example.com", Approve: false, Channel: "slack", At: created.Add(3 * time.Second)},
			},
			DecidedAt: created.Add(3 * time.Second),
			Notices: []playbook.NoticeRecord{
				{Kind: playbook.NoticeReminder, Due: created.Add(30 * time.Minute), SentAt: created.Add(30*time.Minute + 1)},
				{Kind: playbook.NoticeEscalation, Tier: 1, Due: created.Add(45 * time.Minute), Error: "chat: channel not found"},
			},
		},
		Ticket:    "SEC-1234",
		Undo:      &playbook.UndoRecord{By: "oncall@example.com", Reason: "false positive", At: created.Add(time.Hour), Complete: true},
		Error:     "approval denied",
		CreatedAt: created,
		UpdatedAt: created.Add(4 * time.Second),
		Version:   42,
	}
}

// step returns a journal entry with every field set.
func step(runID, stepID string, status playbook.StepStatus, result string) playbook.StepRecord {
	s := playbook.StepRecord{
		RunID:          runID,
		StepID:         stepID,
		Kind:           playbook.StepAction,
		Action:         "revoke-sessions",
		Status:         status,
		IdempotencyKey: runID + "/" + stepID,
		Attempt:        1,
		Error:          "",
		StartedAt:      base.Add(time.Second),
	}
	if result != "" {
		s.Result = json.RawMessage(result)
	}
	if status != playbook.StepStarted {
		s.EndedAt = base.Add(2 * time.Second)
	}
	if status == playbook.StepFailed {
		s.Error = "provider: throttled"
		s.Attempt = 3
	}
	return s
}

func testRoundTrip(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	runs := []playbook.Run{
		fullRun("run-full", "u1", playbook.RunWaiting, base),
		{ID: "run-minimal", Subject: "fake:u2", State: playbook.RunPending, CreatedAt: base.UTC(), UpdatedAt: base.UTC()},
	}
	for _, r := range runs {
		c.noErr(s.CreateRun(ctx, r), "CreateRun "+r.ID)
		got, err := s.GetRun(ctx, r.ID)
		c.noErr(err, "GetRun "+r.ID)
		want := r.Clone()
		want.Version = 1
		c.sameRun(got, want, "GetRun "+r.ID+" after CreateRun")
		for name, pair := range map[string][2]time.Time{
			"CreatedAt":        {got.CreatedAt, r.CreatedAt},
			"UpdatedAt":        {got.UpdatedAt, r.UpdatedAt},
			"Event.OccurredAt": {got.Event.OccurredAt, r.Event.OccurredAt},
		} {
			if !pair[0].Equal(pair[1]) {
				c.errorf("GetRun %s: %s is %v, want the instant %v", r.ID, name, pair[0], pair[1])
			}
		}
	}
}

func testDuplicateCreate(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	first := fullRun("run-1", "u1", playbook.RunRunning, base)
	c.noErr(s.CreateRun(ctx, first), "first CreateRun")
	second := fullRun("run-1", "u2", playbook.RunPending, base.Add(time.Hour))
	second.Ticket = "SEC-9999"
	c.isErr(s.CreateRun(ctx, second), playbook.ErrRunExists, "second CreateRun with the same id")
	got, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")
	want := first.Clone()
	want.Version = 1
	c.sameRun(got, want, "GetRun after the refused CreateRun")
}

func testCompareAndSwap(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	created := fullRun("run-1", "u1", playbook.RunPending, base)
	c.noErr(s.CreateRun(ctx, created), "CreateRun")
	v1, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")

	next := v1.Clone()
	next.State = playbook.RunRunning
	next.Ticket = "SEC-2"
	next.Decision.Notes = append(next.Decision.Notes, "second note")
	next.UpdatedAt = base.Add(time.Minute)
	v2, err := s.UpdateRun(ctx, next)
	c.noErr(err, "UpdateRun at version 1")
	want := next.Clone()
	want.Version = 2
	c.sameRun(v2, want, "run returned by UpdateRun")
	got, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun after UpdateRun")
	c.sameRun(got, want, "GetRun after UpdateRun")

	for _, tc := range []struct {
		name    string
		version int64
	}{
		{"stale version", 1},
		{"future version", 3},
		{"zero version", 0},
	} {
		bad := v1.Clone()
		bad.Version = tc.version
		bad.State = playbook.RunDone
		bad.Ticket = "SEC-LOST"
		_, err := s.UpdateRun(ctx, bad)
		c.isErr(err, playbook.ErrVersionConflict, "UpdateRun with "+tc.name)
		got, err := s.GetRun(ctx, "run-1")
		c.noErr(err, "GetRun")
		c.sameRun(got, want, "GetRun after the refused UpdateRun with "+tc.name)
	}

	v3in := v2.Clone()
	v3in.State = playbook.RunDone
	v3, err := s.UpdateRun(ctx, v3in)
	c.noErr(err, "UpdateRun at version 2")
	if v3.Version != 3 {
		c.errorf("UpdateRun at version 2 returned Version %d, want 3", v3.Version)
	}
}

func testConcurrentWriters(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	const writers, perWriter = 16, 25
	r := fullRun("run-counter", "u1", playbook.RunRunning, base)
	r.Decision.Notes = nil
	c.noErr(s.CreateRun(ctx, r), "CreateRun")

	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			<-start
			for i := range perWriter {
				note := fmt.Sprintf("w%02d-%02d", w, i)
				for {
					cur, err := s.GetRun(ctx, "run-counter")
					if err != nil {
						c.errorf("writer %d: GetRun: %v", w, err)
						return
					}
					cur.Decision.Notes = append(cur.Decision.Notes, note)
					_, err = s.UpdateRun(ctx, cur)
					if errors.Is(err, playbook.ErrVersionConflict) {
						continue
					}
					if err != nil {
						c.errorf("writer %d: UpdateRun: %v", w, err)
						return
					}
					break
				}
			}
		})
	}
	close(start)
	wg.Wait()

	got, err := s.GetRun(ctx, "run-counter")
	c.noErr(err, "final GetRun")
	if n := len(got.Decision.Notes); n != writers*perWriter {
		c.errorf("counter (len of Decision.Notes) is %d, want %d: updates were lost or duplicated", n, writers*perWriter)
	}
	if want := int64(1 + writers*perWriter); got.Version != want {
		c.errorf("Version is %d, want %d (1 + one per successful update)", got.Version, want)
	}
	seen := make(map[string]int, len(got.Decision.Notes))
	for _, n := range got.Decision.Notes {
		seen[n]++
	}
	for w := range writers {
		for i := range perWriter {
			if note := fmt.Sprintf("w%02d-%02d", w, i); seen[note] != 1 {
				c.errorf("increment %s is stored %d times, want exactly once", note, seen[note])
			}
		}
	}
}

func testInputsCopied(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	in := fullRun("run-1", "u1", playbook.RunPending, base)
	want := in.Clone()
	want.Event.Raw = bytes.Clone(in.Event.Raw)
	want.Event.Attributes = map[string]string{"ip": "203.0.113.7", "location": "Lisbon, PT"}
	want.Version = 1
	c.noErr(s.CreateRun(ctx, in), "CreateRun")
	mutateRun(&in)
	got, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")
	c.sameRun(got, want, "GetRun after the caller changed the run it passed to CreateRun")

	upd := got.Clone()
	upd.Event.Raw = bytes.Clone(got.Event.Raw)
	upd.Event.Attributes = map[string]string{"ip": "198.51.100.1"}
	upd.State = playbook.RunRunning
	want = upd.Clone()
	want.Event.Raw = bytes.Clone(upd.Event.Raw)
	want.Event.Attributes = map[string]string{"ip": "198.51.100.1"}
	want.Version = 2
	_, err = s.UpdateRun(ctx, upd)
	c.noErr(err, "UpdateRun")
	mutateRun(&upd)
	got, err = s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")
	c.sameRun(got, want, "GetRun after the caller changed the run it passed to UpdateRun")

	st := step("run-1", "s1", playbook.StepDone, `{"revoked":3}`)
	wantStep := st
	wantStep.Result = bytes.Clone(st.Result)
	c.noErr(s.PutStep(ctx, st), "PutStep")
	st.Result[2] = 'X'
	st.Status = playbook.StepFailed
	steps, err := s.Steps(ctx, "run-1")
	c.noErr(err, "Steps")
	c.sameSteps(steps, []playbook.StepRecord{wantStep}, "Steps after the caller changed the Result it passed to PutStep")
}

func testOutputsCopied(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	created := fullRun("run-1", "u1", playbook.RunRunning, base)
	c.noErr(s.CreateRun(ctx, created), "CreateRun")
	c.noErr(s.PutStep(ctx, step("run-1", "s1", playbook.StepDone, `{"revoked":3}`)), "PutStep")
	want, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")
	// A private reference copy: the store's answers are compared to it.
	ref := want.Clone()
	ref.Event.Raw = bytes.Clone(want.Event.Raw)
	ref.Event.Attributes = map[string]string{}
	for k, v := range want.Event.Attributes {
		ref.Event.Attributes[k] = v
	}

	for _, tc := range []struct {
		name string
		get  func() playbook.Run
	}{
		{"GetRun", func() playbook.Run {
			r, err := s.GetRun(ctx, "run-1")
			c.noErr(err, "GetRun")
			return r
		}},
		{"ListRuns", func() playbook.Run {
			rs, err := s.ListRuns(ctx, playbook.RunFilter{})
			c.noErr(err, "ListRuns")
			if len(rs) != 1 {
				c.fatalf("ListRuns returned %d runs, want 1", len(rs))
			}
			return rs[0]
		}},
	} {
		r := tc.get()
		mutateRun(&r)
		got, err := s.GetRun(ctx, "run-1")
		c.noErr(err, "GetRun")
		c.sameRun(got, ref, "GetRun after the caller changed the run "+tc.name+" returned")
	}

	// UpdateRun's answer is a copy too: the stored run must stay as sent.
	upd := ref.Clone()
	upd.Event.Raw = bytes.Clone(ref.Event.Raw)
	upd.Event.Attributes = map[string]string{"ip": "198.51.100.1"}
	wantUpd := upd.Clone()
	wantUpd.Event.Raw = bytes.Clone(ref.Event.Raw)
	wantUpd.Event.Attributes = map[string]string{"ip": "198.51.100.1"}
	wantUpd.Version = ref.Version + 1
	ret, err := s.UpdateRun(ctx, upd)
	c.noErr(err, "UpdateRun")
	mutateRun(&ret)
	got, err := s.GetRun(ctx, "run-1")
	c.noErr(err, "GetRun")
	c.sameRun(got, wantUpd, "GetRun after the caller changed the run UpdateRun returned")

	steps, err := s.Steps(ctx, "run-1")
	c.noErr(err, "Steps")
	if len(steps) != 1 || len(steps[0].Result) < 3 {
		c.fatalf("Steps returned %d records, want 1 with a Result", len(steps))
	}
	steps[0].Result[2] = 'X'
	steps[0].Status = playbook.StepFailed
	again, err := s.Steps(ctx, "run-1")
	c.noErr(err, "Steps")
	c.sameSteps(again, []playbook.StepRecord{step("run-1", "s1", playbook.StepDone, `{"revoked":3}`)}, "Steps after the caller changed the journal Steps returned")
}

// mutateRun changes, in place, every map, slice and byte slice r refers to,
// and a few plain fields.
func mutateRun(r *playbook.Run) {
	r.State = playbook.RunDone
	r.Ticket = "SEC-MUTATED"
	for k := range r.Event.Attributes {
		r.Event.Attributes[k] = "mutated"
	}
	if r.Event.Attributes != nil {
		r.Event.Attributes["added"] = "mutated"
	}
	for i := range r.Event.Raw {
		if r.Event.Raw[i] == 'h' {
			r.Event.Raw[i] = 'H'
		}
	}
	if d := r.Decision; d != nil {
		d.Rule = "mutated"
		for i := range d.Notes {
			d.Notes[i] = "mutated"
		}
		for i := range d.Steps {
			d.Steps[i].Action = "mutated"
			for k := range d.Steps[i].Params {
				d.Steps[i].Params[k] = "mutated"
			}
		}
	}
	if a := r.Approval; a != nil {
		a.Status = playbook.ApprovalApproved
		for i := range a.Verdicts {
			a.Verdicts[i].Approver = "mutated"
		}
		for i := range a.Request.Decision.Steps {
			for k := range a.Request.Decision.Steps[i].Params {
				a.Request.Decision.Steps[i].Params[k] = "mutated"
			}
		}
		for i := range a.Request.Decision.Notes {
			a.Request.Decision.Notes[i] = "mutated"
		}
	}
}

func testListRuns(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	// Created in this order; CreatedAt deliberately not monotonic, and a
	// and d share one instant (d written in another location).
	seed := []playbook.Run{
		fullRun("a", "u1", playbook.RunRunning, base.Add(2*time.Second)),
		fullRun("b", "u2", playbook.RunRunning, base),
		fullRun("c", "u1", playbook.RunDone, base.Add(time.Second)),
		fullRun("d", "u1", playbook.RunRunning, base.Add(2*time.Second).UTC()),
		fullRun("e", "u2", playbook.RunWaiting, base.Add(3*time.Second)),
	}
	for _, r := range seed {
		c.noErr(s.CreateRun(ctx, r), "CreateRun "+r.ID)
	}
	list := func(f playbook.RunFilter) []string {
		t.Helper()
		rs, err := s.ListRuns(ctx, f)
		c.noErr(err, fmt.Sprintf("ListRuns(%+v)", f))
		ids := make([]string, 0, len(rs))
		for _, r := range rs {
			ids = append(ids, r.ID)
			stored, err := s.GetRun(ctx, r.ID)
			c.noErr(err, "GetRun "+r.ID)
			c.sameRun(r, stored, fmt.Sprintf("ListRuns(%+v) entry %s compared to GetRun", f, r.ID))
		}
		return ids
	}
	tests := []struct {
		filter playbook.RunFilter
		want   []string
	}{
		{playbook.RunFilter{}, []string{"b", "c", "a", "d", "e"}},
		{playbook.RunFilter{State: playbook.RunRunning}, []string{"b", "a", "d"}},
		{playbook.RunFilter{Subject: "fake:u1"}, []string{"c", "a", "d"}},
		{playbook.RunFilter{State: playbook.RunRunning, Subject: "fake:u1"}, []string{"a", "d"}},
		{playbook.RunFilter{Limit: 2}, []string{"b", "c"}},
		{playbook.RunFilter{State: playbook.RunRunning, Limit: 1}, []string{"b"}},
		{playbook.RunFilter{Subject: "fake:u2", Limit: 10}, []string{"b", "e"}},
		{playbook.RunFilter{State: playbook.RunPending}, nil},
		{playbook.RunFilter{Subject: "fake:nobody"}, nil},
	}
	for _, tc := range tests {
		if got := list(tc.filter); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			c.errorf("ListRuns(%+v) = %q, want %q", tc.filter, got, tc.want)
		}
	}

	// Listing uses the current state, not the state at creation.
	b, err := s.GetRun(ctx, "b")
	c.noErr(err, "GetRun b")
	b.State = playbook.RunDone
	_, err = s.UpdateRun(ctx, b)
	c.noErr(err, "UpdateRun b")
	for _, tc := range []struct {
		filter playbook.RunFilter
		want   []string
	}{
		{playbook.RunFilter{State: playbook.RunRunning}, []string{"a", "d"}},
		{playbook.RunFilter{State: playbook.RunDone}, []string{"b", "c"}},
	} {
		if got := list(tc.filter); !slices.Equal(got, tc.want) {
			c.errorf("after run b moved to done: ListRuns(%+v) = %q, want %q", tc.filter, got, tc.want)
		}
	}

	// An update may move a run to another subject and creation time too.
	a, err := s.GetRun(ctx, "a")
	c.noErr(err, "GetRun a")
	a.Subject = "fake:u2"
	a.CreatedAt = base.Add(4 * time.Second)
	_, err = s.UpdateRun(ctx, a)
	c.noErr(err, "UpdateRun a")
	for _, tc := range []struct {
		filter playbook.RunFilter
		want   []string
	}{
		{playbook.RunFilter{Subject: "fake:u2"}, []string{"b", "e", "a"}},
		{playbook.RunFilter{Subject: "fake:u1"}, []string{"c", "d"}},
		{playbook.RunFilter{}, []string{"b", "c", "d", "e", "a"}},
	} {
		if got := list(tc.filter); !slices.Equal(got, tc.want) {
			c.errorf("after run a moved to fake:u2 and a later CreatedAt: ListRuns(%+v) = %q, want %q", tc.filter, got, tc.want)
		}
	}
}

func testSteps(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	for _, id := range []string{"run-1", "run-2"} {
		c.noErr(s.CreateRun(ctx, fullRun(id, "u1", playbook.RunRunning, base)), "CreateRun "+id)
	}
	enrich := step("run-1", "enrich", playbook.StepDone, `{"facts":{"privileged":true}}`)
	enrich.Kind, enrich.Action = playbook.StepEnrich, ""
	decide := step("run-1", "decide", playbook.StepDone, `{"response":"contain"}`)
	decide.Kind, decide.Action = playbook.StepDecide, ""
	act1 := step("run-1", "action-0", playbook.StepStarted, "")
	act2 := step("run-1", "action-1", playbook.StepStarted, "")
	act2.Action = "disable-user"
	other := step("run-2", "action-0", playbook.StepStarted, "")

	puts := []playbook.StepRecord{enrich, decide, act1, other, act2}
	act1Done := step("run-1", "action-0", playbook.StepDone, `{"status":"done"}`)
	act1Done.Attempt = 2
	act2Failed := step("run-1", "action-1", playbook.StepFailed, "")
	act2Failed.Action = "disable-user"
	enrichAgain := enrich
	enrichAgain.Attempt, enrichAgain.Result = 2, json.RawMessage(`{"facts":{"privileged":false}}`)
	// The earliest step is upserted last: it must keep its first position.
	puts = append(puts, act1Done, act2Failed, enrichAgain)
	for _, st := range puts {
		c.noErr(s.PutStep(ctx, st), "PutStep "+st.RunID+"/"+st.StepID)
	}

	tests := []struct {
		runID string
		want  []playbook.StepRecord
	}{
		{"run-1", []playbook.StepRecord{enrichAgain, decide, act1Done, act2Failed}},
		{"run-2", []playbook.StepRecord{other}},
	}
	for _, tc := range tests {
		got, err := s.Steps(ctx, tc.runID)
		c.noErr(err, "Steps "+tc.runID)
		c.sameSteps(got, tc.want, "Steps "+tc.runID)
	}
}

func testClaimExpiry(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	t0 := base
	tests := []struct {
		what        string
		key, runID  string
		now         time.Time
		expires     time.Time
		wantOwner   string
		wantClaimed bool
	}{
		{"first claim", "evt-1", "run-a", t0, t0.Add(10 * time.Minute), "run-a", true},
		{"second claimer within expiry", "evt-1", "run-b", t0.Add(5 * time.Minute), t0.Add(20 * time.Minute), "run-a", false},
		{"owner claiming again within expiry", "evt-1", "run-a", t0.Add(6 * time.Minute), t0.Add(30 * time.Minute), "run-a", false},
		{"another key is independent", "evt-2", "run-c", t0.Add(6 * time.Minute), t0.Add(7 * time.Minute), "run-c", true},
		{"one nanosecond before expiry", "evt-1", "run-b", t0.Add(10*time.Minute - 1), t0.Add(20 * time.Minute), "run-a", false},
		{"at the expiry instant", "evt-1", "run-b", t0.Add(10 * time.Minute), t0.Add(20 * time.Minute), "run-b", true},
		{"the new claim holds", "evt-1", "run-a", t0.Add(15 * time.Minute), t0.Add(40 * time.Minute), "run-b", false},
		{"expired claim of the other key is replaced", "evt-2", "run-d", t0.Add(16 * time.Minute), t0.Add(17 * time.Minute), "run-d", true},
		{"after the new claim's expiry", "evt-1", "run-e", t0.Add(20*time.Minute + 1), t0.Add(50 * time.Minute), "run-e", true},
	}
	for _, tc := range tests {
		owner, claimed, err := s.ClaimEvent(ctx, tc.key, tc.runID, tc.now, tc.expires)
		c.noErr(err, "ClaimEvent "+tc.what)
		if owner != tc.wantOwner || claimed != tc.wantClaimed {
			c.errorf("%s: ClaimEvent(%q, %q, t0+%v) = (%q, %v), want (%q, %v)",
				tc.what, tc.key, tc.runID, tc.now.Sub(t0), owner, claimed, tc.wantOwner, tc.wantClaimed)
		}
	}
}

func testConcurrentClaims(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	const claimers = 32
	type answer struct {
		owner   string
		claimed bool
	}
	answers := make([]answer, claimers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range claimers {
		wg.Go(func() {
			<-start
			owner, claimed, err := s.ClaimEvent(ctx, "evt-hot", fmt.Sprintf("run-%02d", i), base, base.Add(time.Hour))
			if err != nil {
				c.errorf("claimer %d: ClaimEvent: %v", i, err)
			}
			answers[i] = answer{owner, claimed}
		})
	}
	close(start)
	wg.Wait()

	var winners []string
	for i, a := range answers {
		if a.claimed {
			winners = append(winners, fmt.Sprintf("run-%02d", i))
			if a.owner != fmt.Sprintf("run-%02d", i) {
				c.errorf("claimer %d won but was told the owner is %q", i, a.owner)
			}
		}
	}
	if len(winners) != 1 {
		c.fatalf("%d claimers won (%q), want exactly 1", len(winners), winners)
	}
	for i, a := range answers {
		if a.owner != winners[0] {
			c.errorf("claimer %d was told the owner is %q, want the winner %q", i, a.owner, winners[0])
		}
	}
	owner, claimed, err := s.ClaimEvent(ctx, "evt-hot", "run-late", base.Add(time.Minute), base.Add(2*time.Hour))
	c.noErr(err, "late ClaimEvent")
	if owner != winners[0] || claimed {
		c.errorf("a later claim got (%q, %v), want (%q, false)", owner, claimed, winners[0])
	}
}

func testUnknownRun(t *testing.T, c *checker, s playbook.Store) {
	ctx := t.Context()
	runs, err := s.ListRuns(ctx, playbook.RunFilter{})
	c.noErr(err, "ListRuns of an empty store")
	if len(runs) != 0 {
		c.errorf("ListRuns of an empty store returned %d runs", len(runs))
	}
	c.noErr(s.CreateRun(ctx, fullRun("run-known", "u1", playbook.RunRunning, base)), "CreateRun")

	_, err = s.GetRun(ctx, "run-missing")
	c.isErr(err, playbook.ErrRunNotFound, "GetRun of a missing run")
	missing := fullRun("run-missing", "u1", playbook.RunRunning, base)
	missing.Version = 1
	_, err = s.UpdateRun(ctx, missing)
	c.isErr(err, playbook.ErrRunNotFound, "UpdateRun of a missing run")
	_, err = s.GetRun(ctx, "run-missing")
	c.isErr(err, playbook.ErrRunNotFound, "GetRun after UpdateRun of a missing run (UpdateRun must not create)")

	for _, id := range []string{"run-missing", "run-known"} {
		steps, err := s.Steps(ctx, id)
		c.noErr(err, "Steps of "+id)
		if len(steps) != 0 {
			c.errorf("Steps of %s (no steps put) returned %d records, want none", id, len(steps))
		}
	}
}
