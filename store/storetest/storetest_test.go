package storetest_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/storetest"
)

// fault is one way a store can break the contract.
type fault string

const (
	noFault          fault = ""
	createOverwrites fault = "create-overwrites"
	createKeepsVer   fault = "create-keeps-version"
	compactsRaw      fault = "compacts-raw"
	truncatesTimes   fault = "truncates-times"
	dropsVerdicts    fault = "drops-verdicts"
	blindUpdate      fault = "blind-update"
	checkThenAct     fault = "check-then-act"
	retainsInput     fault = "retains-input"
	sharesOutput     fault = "shares-output"
	unsortedList     fault = "unsorted-list"
	ignoresLimit     fault = "ignores-limit"
	staleStateList   fault = "stale-state-list"
	staleIndexList   fault = "stale-subject-and-time-list"
	stepsAppendOnly  fault = "steps-append-only"
	upsertMovesToEnd fault = "upsert-moves-to-end"
	stepsUnknownErr  fault = "steps-unknown-errors"
	getMissingZero   fault = "get-missing-zero"
	reclaimExtends   fault = "reclaim-extends"
	inclusiveExpiry  fault = "inclusive-expiry"
	racyClaim        fault = "racy-claim"
	pendingByCreate  fault = "pending-by-create"
	pendingNoTieByID fault = "pending-ties-by-creation"
	pendingStale     fault = "pending-stale-status"
	pendingNoLimit   fault = "pending-ignores-limit"
	inboxZeroAt      fault = "inbox-accepts-zero-at"
	inboxReusesSeq   fault = "inbox-reuses-seq"
	inboxRemoveNoop  fault = "inbox-remove-noop"
	inboxNoLimit     fault = "inbox-ignores-limit"
	inboxSharesOut   fault = "inbox-shares-output"
	racyPost         fault = "racy-post"
	lockShared       fault = "lock-not-exclusive"
	lockAnonymous    fault = "lock-error-anonymous"
	unlockNoop       fault = "unlock-noop"
)

// TestSuiteCatchesFaults runs the suite, in a child process, against a
// store with one fault each, and checks that the case meant to catch the
// fault fails. The fault-free store must pass every case.
func TestSuiteCatchesFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fault    fault
		wantFail string // the case that must fail; empty: the suite must pass
	}{
		{noFault, ""},
		{createOverwrites, "DuplicateCreate"},
		{createKeepsVer, "CreateGetRoundTrip"},
		{compactsRaw, "CreateGetRoundTrip"},
		{truncatesTimes, "CreateGetRoundTrip"},
		{dropsVerdicts, "CreateGetRoundTrip"},
		{blindUpdate, "UpdateCompareAndSwap"},
		{checkThenAct, "ConcurrentWritersLoseNothing"},
		{retainsInput, "InputsAreCopied"},
		{sharesOutput, "OutputsAreCopies"},
		{unsortedList, "ListRunsFiltersAndOrders"},
		{ignoresLimit, "ListRunsFiltersAndOrders"},
		{staleStateList, "ListRunsFiltersAndOrders"},
		{staleIndexList, "ListRunsFiltersAndOrders"},
		{stepsAppendOnly, "StepsKeepFirstPutOrder"},
		{upsertMovesToEnd, "StepsKeepFirstPutOrder"},
		{stepsUnknownErr, "UnknownRun"},
		{getMissingZero, "UnknownRun"},
		{reclaimExtends, "ClaimEventExpiry"},
		{inclusiveExpiry, "ClaimEventExpiry"},
		{racyClaim, "ConcurrentClaimsOneWinner"},
		{pendingByCreate, "PendingApprovalsByDeadline"},
		{pendingNoTieByID, "PendingApprovalsByDeadline"},
		{pendingStale, "PendingApprovalsByDeadline"},
		{pendingNoLimit, "PendingApprovalsByDeadline"},
		{inboxZeroAt, "VerdictInboxQueue"},
		{inboxReusesSeq, "VerdictInboxQueue"},
		{inboxRemoveNoop, "VerdictInboxQueue"},
		{inboxNoLimit, "VerdictInboxQueue"},
		{inboxSharesOut, "VerdictInboxQueue"},
		{racyPost, "VerdictInboxConcurrentPosts"},
		{lockShared, "LockerExcludes"},
		{lockAnonymous, "LockerExcludes"},
		{unlockNoop, "LockerExcludes"},
	}
	for _, tc := range tests {
		name := string(tc.fault)
		if name == "" {
			name = "no-fault"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFaultyStore$", "-test.v", "-test.count=1", "-test.timeout=2m")
			cmd.Env = append(os.Environ(), "STORETEST_FAULT="+name)
			out, err := cmd.CombinedOutput()
			if tc.wantFail == "" {
				if err != nil {
					t.Fatalf("the fault-free store failed the suite: %v\n%s", err, out)
				}
				if !bytes.Contains(out, []byte("--- PASS: TestFaultyStore/UnknownRun")) {
					t.Fatalf("the suite did not run its cases:\n%s", out)
				}
				return
			}
			if err == nil {
				t.Fatalf("the suite passed a store with fault %s:\n%s", tc.fault, out)
			}
			if want := "--- FAIL: TestFaultyStore/" + tc.wantFail + " "; !bytes.Contains(out, []byte(want)) {
				t.Fatalf("fault %s: case %s did not fail:\n%s", tc.fault, tc.wantFail, out)
			}
		})
	}
}

// TestFaultyStore is the child process of TestSuiteCatchesFaults.
func TestFaultyStore(t *testing.T) {
	name, ok := os.LookupEnv("STORETEST_FAULT")
	if !ok {
		t.Skip("runs only as a child of TestSuiteCatchesFaults")
	}
	f := fault(name)
	if name == "no-fault" {
		f = noFault
	}
	if os.Getenv("STORETEST_PLAIN") != "" {
		// Only the playbook.Store methods: the capability cases skip.
		storetest.Run(t, func(t *testing.T) playbook.Store { return plainStore{newFaulty(f)} })
		return
	}
	storetest.Run(t, func(t *testing.T) playbook.Store { return newFaulty(f) })
}

// plainStore hides every optional interface of the store it wraps.
type plainStore struct{ playbook.Store }

// TestSuiteSkipsMissingCapabilities checks that a store without the
// optional interfaces passes the suite, each capability case skipped with
// a message naming the interface.
func TestSuiteSkipsMissingCapabilities(t *testing.T) {
	t.Parallel()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFaultyStore$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "STORETEST_FAULT=no-fault", "STORETEST_PLAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("a store without capabilities failed the suite: %v\n%s", err, out)
	}
	for _, c := range []struct{ name, iface string }{
		{"PendingApprovalsByDeadline", "playbook.ApprovalLister"},
		{"VerdictInboxQueue", "playbook.VerdictInbox"},
		{"VerdictInboxConcurrentPosts", "playbook.VerdictInbox"},
		{"LockerExcludes", "playbook.Locker"},
	} {
		if !bytes.Contains(out, []byte("--- SKIP: TestFaultyStore/"+c.name+" ")) {
			t.Errorf("case %s was not skipped:\n%s", c.name, out)
		}
		if !bytes.Contains(out, []byte("does not implement "+c.iface)) {
			t.Errorf("no skip message names %s:\n%s", c.iface, out)
		}
	}
}

// faulty is a simple map-based store that breaks the contract in the one
// way its fault names.
type faulty struct {
	fault fault
	gate  rendezvous

	mu     sync.Mutex
	seq    int
	runs   map[string]*faultyRun
	claims map[string]faultyClaim

	inboxSeq int64
	inbox    []playbook.InboxVerdict
	lockedBy string
}

type faultyRun struct {
	run     playbook.Run
	created playbook.Run
	seq     int
	steps   []playbook.StepRecord
}

type faultyClaim struct {
	owner   string
	expires time.Time
}

func newFaulty(f fault) *faulty {
	return &faulty{fault: f, runs: map[string]*faultyRun{}, claims: map[string]faultyClaim{}}
}

// rendezvous makes the first two callers of meet wait for each other, so
// that a check-then-act race is lost every time rather than by chance. It
// is used only for the ids the suite's concurrent cases use, where a
// second caller always comes.
type rendezvous struct {
	once    sync.Once
	arrived chan struct{}
	mu      sync.Mutex
	count   int
}

func (r *rendezvous) meet() {
	r.once.Do(func() { r.arrived = make(chan struct{}) })
	r.mu.Lock()
	r.count++
	n := r.count
	r.mu.Unlock()
	switch n {
	case 1:
		<-r.arrived
	case 2:
		close(r.arrived)
	}
}

func (s *faulty) copyRun(r playbook.Run) playbook.Run {
	r = r.Clone()
	r.Event.Attributes = maps.Clone(r.Event.Attributes)
	r.Event.Raw = bytes.Clone(r.Event.Raw)
	return r
}

func (s *faulty) out(r playbook.Run) playbook.Run {
	if s.fault == sharesOutput {
		return r
	}
	return s.copyRun(r)
}

func (s *faulty) CreateRun(_ context.Context, r playbook.Run) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[r.ID]; ok && s.fault != createOverwrites {
		return playbook.ErrRunExists
	}
	if s.fault != retainsInput {
		r = s.copyRun(r)
	}
	if s.fault != createKeepsVer {
		r.Version = 1
	}
	switch s.fault {
	case compactsRaw:
		var b bytes.Buffer
		if json.Compact(&b, r.Event.Raw) == nil {
			r.Event.Raw = b.Bytes()
		}
	case truncatesTimes:
		r.CreatedAt = r.CreatedAt.Truncate(time.Millisecond)
	case dropsVerdicts:
		if r.Approval != nil {
			r.Approval.Verdicts = nil
		}
	}
	s.seq++
	s.runs[r.ID] = &faultyRun{run: r, created: r, seq: s.seq}
	return nil
}

func (s *faulty) UpdateRun(_ context.Context, r playbook.Run) (playbook.Run, error) {
	s.mu.Lock()
	e, ok := s.runs[r.ID]
	if !ok {
		s.mu.Unlock()
		return playbook.Run{}, playbook.ErrRunNotFound
	}
	if e.run.Version != r.Version && s.fault != blindUpdate {
		s.mu.Unlock()
		return playbook.Run{}, playbook.ErrVersionConflict
	}
	if s.fault == checkThenAct && r.ID == "run-counter" {
		s.mu.Unlock()
		s.gate.meet()
		s.mu.Lock()
	}
	if s.fault != retainsInput {
		r = s.copyRun(r)
	}
	r.Version = e.run.Version + 1
	e.run = r
	s.mu.Unlock()
	return s.out(r), nil
}

func (s *faulty) GetRun(_ context.Context, id string) (playbook.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.runs[id]
	if !ok {
		if s.fault == getMissingZero {
			return playbook.Run{}, nil
		}
		return playbook.Run{}, playbook.ErrRunNotFound
	}
	return s.out(e.run), nil
}

func (s *faulty) ListRuns(_ context.Context, f playbook.RunFilter) ([]playbook.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*faultyRun
	for _, e := range s.runs {
		state := e.run.State
		if s.fault == staleStateList {
			state = e.created.State
		}
		subject := e.run.Subject
		if s.fault == staleIndexList {
			subject = e.created.Subject
		}
		if (f.State == "" || state == f.State) && (f.Subject == "" || subject == f.Subject) {
			found = append(found, e)
		}
	}
	created := func(e *faultyRun) time.Time {
		if s.fault == staleIndexList {
			return e.created.CreatedAt
		}
		return e.run.CreatedAt
	}
	slices.SortFunc(found, func(a, b *faultyRun) int {
		if s.fault != unsortedList {
			if c := created(a).Compare(created(b)); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.seq, b.seq)
	})
	if f.Limit > 0 && len(found) > f.Limit && s.fault != ignoresLimit {
		found = found[:f.Limit]
	}
	out := make([]playbook.Run, len(found))
	for i, e := range found {
		out[i] = s.out(e.run)
	}
	return out, nil
}

func (s *faulty) PutStep(_ context.Context, st playbook.StepRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.runs[st.RunID]
	if !ok {
		return playbook.ErrRunNotFound
	}
	if s.fault != retainsInput {
		st.Result = bytes.Clone(st.Result)
	}
	i := slices.IndexFunc(e.steps, func(x playbook.StepRecord) bool { return x.StepID == st.StepID })
	switch {
	case i < 0 || s.fault == stepsAppendOnly:
		e.steps = append(e.steps, st)
	case s.fault == upsertMovesToEnd:
		e.steps = append(slices.Delete(e.steps, i, i+1), st)
	default:
		e.steps[i] = st
	}
	return nil
}

func (s *faulty) Steps(_ context.Context, runID string) ([]playbook.StepRecord, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.runs[runID]
	if !ok {
		if s.fault == stepsUnknownErr {
			return nil, playbook.ErrRunNotFound
		}
		return nil, nil
	}
	if s.fault == sharesOutput {
		return e.steps, nil
	}
	out := slices.Clone(e.steps)
	for i := range out {
		out[i].Result = bytes.Clone(out[i].Result)
	}
	return out, nil
}

func (s *faulty) ClaimEvent(_ context.Context, key, runID string, now, expires time.Time) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.claims[key]
	held := ok && now.Before(c.expires)
	if s.fault == inclusiveExpiry {
		held = ok && !now.After(c.expires)
	}
	if s.fault == racyClaim && !held && key == "evt-hot" {
		s.mu.Unlock()
		s.gate.meet()
		s.mu.Lock()
	}
	if held {
		if s.fault == reclaimExtends && c.owner == runID {
			s.claims[key] = faultyClaim{runID, expires}
		}
		return c.owner, false, nil
	}
	s.claims[key] = faultyClaim{runID, expires}
	return runID, true, nil
}

func (s *faulty) PendingApprovals(_ context.Context, limit int) ([]playbook.Run, error) {
	if limit < 0 {
		return nil, errors.New("negative limit")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []*faultyRun
	for _, e := range s.runs {
		a := e.run.Approval
		if s.fault == pendingStale {
			a = e.created.Approval
		}
		if a != nil && a.Status == playbook.ApprovalPending {
			found = append(found, e)
		}
	}
	slices.SortFunc(found, func(a, b *faultyRun) int {
		if s.fault == pendingByCreate {
			return cmp.Compare(a.seq, b.seq)
		}
		if c := a.run.Approval.Request.Deadline.Compare(b.run.Approval.Request.Deadline); c != 0 {
			return c
		}
		if s.fault == pendingNoTieByID {
			return cmp.Compare(a.seq, b.seq)
		}
		return strings.Compare(a.run.ID, b.run.ID)
	})
	if limit > 0 && len(found) > limit && s.fault != pendingNoLimit {
		found = found[:limit]
	}
	out := make([]playbook.Run, len(found))
	for i, e := range found {
		out[i] = s.out(e.run)
	}
	return out, nil
}

func (s *faulty) PostVerdict(_ context.Context, v playbook.Verdict) (int64, error) {
	if v.At.IsZero() && s.fault != inboxZeroAt {
		return 0, playbook.ErrInvalidVerdict
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.inboxSeq + 1
	switch s.fault {
	case inboxReusesSeq:
		seq = 1
		if n := len(s.inbox); n > 0 {
			seq = s.inbox[n-1].Seq + 1
		}
	case racyPost:
		if strings.HasPrefix(v.ApprovalID, "apr-p") {
			s.mu.Unlock()
			s.gate.meet()
			s.mu.Lock()
		}
	}
	s.inboxSeq = seq
	s.inbox = append(s.inbox, playbook.InboxVerdict{Seq: seq, Verdict: v})
	return seq, nil
}

func (s *faulty) InboxVerdicts(_ context.Context, limit int) ([]playbook.InboxVerdict, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	items := s.inbox
	if limit > 0 && len(items) > limit && s.fault != inboxNoLimit {
		items = items[:limit]
	}
	if s.fault == inboxSharesOut {
		return items, nil
	}
	return slices.Clone(items), nil
}

func (s *faulty) RemoveVerdict(_ context.Context, seq int64) error {
	if s.fault == inboxRemoveNoop {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbox = slices.DeleteFunc(s.inbox, func(it playbook.InboxVerdict) bool { return it.Seq == seq })
	return nil
}

func (s *faulty) Lock(_ context.Context, owner string) (func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lockedBy != "" && s.fault != lockShared {
		if s.fault == lockAnonymous {
			return nil, playbook.ErrStoreLocked
		}
		return nil, fmt.Errorf("held by %s: %w", s.lockedBy, playbook.ErrStoreLocked)
	}
	s.lockedBy = owner
	return func() error {
		if s.fault == unlockNoop {
			return nil
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.lockedBy = ""
		return nil
	}, nil
}

var (
	_ playbook.Store          = (*faulty)(nil)
	_ playbook.ApprovalLister = (*faulty)(nil)
	_ playbook.VerdictInbox   = (*faulty)(nil)
	_ playbook.Locker         = (*faulty)(nil)
)

// TestRunRejectsNilStore checks that a nil store from newStore fails the
// case clearly instead of panicking; it runs in a child process too.
func TestRunRejectsNilStore(t *testing.T) {
	t.Parallel()
	if os.Getenv("STORETEST_NIL") != "" {
		storetest.Run(t, func(t *testing.T) playbook.Store { return nil })
		return
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestRunRejectsNilStore$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), "STORETEST_NIL=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a nil store:\n%s", out)
	}
	if !strings.Contains(string(out), "newStore returned a nil store") || strings.Contains(string(out), "panic") {
		t.Fatalf("want a clear failure naming the nil store, no panic:\n%s", out)
	}
}
