package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// shardCount is the number of independently locked run shards. Runs are
// spread over them by a hash of their id, so that runners working on
// different runs rarely wait for each other.
const shardCount = 32

// linearSteps is how many journal entries a run holds before Memory builds
// a step-id index for it; below it a linear scan is cheaper than a map.
const linearSteps = 8

// initialSteps is the journal capacity of a run's first step: enrichment,
// decision and two containment steps, the common run, fit without growing.
const initialSteps = 4

// Memory is an in-memory playbook.Store. Nothing it holds survives the
// process. It also implements playbook.VerdictInbox and
// playbook.ApprovalLister (see inbox.go), but not playbook.Locker: nothing
// outside the process can share it.
//
// All methods are safe for concurrent use. Memory copies every value passed
// in and every value it returns (maps, slices, Event.Raw, StepRecord.Result),
// so neither side can change the other's data; UpdateRun returns the
// caller's own argument (see there). Each method checks ctx once,
// on entry: a done ctx makes it return ctx.Err() without effect; otherwise
// it completes without blocking on anything but short internal locks.
//
// Runs and their journals are kept until the Memory is discarded; event
// claims are dropped once they have expired, so claim memory is bounded by
// the number of unexpired claims.
//
// The zero Memory is empty and ready to use, like the one NewMemory
// returns. A Memory must not be copied after first use.
type Memory struct {
	seq    atomic.Uint64 // creation order of runs, for ListRuns
	shards [shardCount]shard
	claims claimTable
	inbox  verdictInbox
}

var _ playbook.Store = (*Memory)(nil)

// shard is one lock's worth of runs. The padding keeps two shards' locks off
// one cache line.
type shard struct {
	mu   sync.Mutex
	runs map[string]*runEntry
	_    [48]byte
}

// runEntry is what Memory keeps about one run; its fields are guarded by the
// shard's lock.
type runEntry struct {
	// run is an immutable snapshot: UpdateRun replaces the pointer, nothing
	// modifies the pointed-to value, so readers clone it outside the lock.
	run *playbook.Run
	// seq is the run's creation order.
	seq uint64
	// steps is the journal in first-put order. Each element is immutable
	// once stored (its Result is never written again), so a shallow copy
	// taken under the lock may be deep-copied outside it.
	steps []playbook.StepRecord
	// index maps StepID to its position in steps, built once the journal
	// is longer than linearSteps.
	index map[string]int
}

// NewMemory returns an empty Memory.
func NewMemory() *Memory { return &Memory{} }

// shardFor returns the shard that holds run id (FNV-1a of the id).
func (m *Memory) shardFor(id string) *shard {
	h := uint32(2166136261)
	for i := range len(id) {
		h ^= uint32(id[i])
		h *= 16777619
	}
	return &m.shards[h%shardCount]
}

// CreateRun stores a copy of r with Version 1, whatever r.Version says. It
// returns an error wrapping playbook.ErrRunExists if a run with r.ID is
// already stored, and an error naming the field if r.ID is empty.
func (m *Memory) CreateRun(ctx context.Context, r playbook.Run) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r.ID == "" {
		return errors.New("store: CreateRun: run id is empty")
	}
	snap := cloneRun(r)
	snap.Version = 1
	e := &runEntry{run: &snap, seq: m.seq.Add(1)}
	sh := m.shardFor(r.ID)
	sh.mu.Lock()
	if _, ok := sh.runs[r.ID]; ok {
		sh.mu.Unlock()
		return fmt.Errorf("store: CreateRun %q: %w", r.ID, playbook.ErrRunExists)
	}
	if sh.runs == nil {
		sh.runs = make(map[string]*runEntry)
	}
	sh.runs[r.ID] = e
	sh.mu.Unlock()
	return nil
}

// UpdateRun replaces the stored run r.ID with a copy of r if the stored
// Version equals r.Version, and returns what it stored: r with Version
// incremented. Otherwise it stores nothing and returns an error wrapping
// playbook.ErrVersionConflict (stale or future version) or
// playbook.ErrRunNotFound (no such run). Every field is replaced; Memory
// sets none of them itself (UpdatedAt is the caller's).
//
// The returned Run is r itself with the new Version, so it shares r's maps
// and slices (the caller's own memory), never the store's: changing it
// cannot change the stored run. This saves a deep copy per update, most of
// an update's cost.
func (m *Memory) UpdateRun(ctx context.Context, r playbook.Run) (playbook.Run, error) {
	if err := ctx.Err(); err != nil {
		return playbook.Run{}, err
	}
	if r.ID == "" {
		return playbook.Run{}, errors.New("store: UpdateRun: run id is empty")
	}
	sh := m.shardFor(r.ID)
	sh.mu.Lock()
	e := sh.runs[r.ID]
	var prev *playbook.Run
	if e != nil {
		prev = e.run
	}
	sh.mu.Unlock()
	if prev == nil {
		return playbook.Run{}, fmt.Errorf("store: UpdateRun %q: %w", r.ID, playbook.ErrRunNotFound)
	}
	if prev.Version != r.Version {
		return playbook.Run{}, conflict(r, prev.Version)
	}
	// Copy outside the lock, then swap only if no other update got in
	// meanwhile: every update replaces the snapshot and raises its
	// Version, so an unchanged pointer means an unchanged Version.
	snap := snapshotOf(r, prev)
	snap.Version = r.Version + 1
	sh.mu.Lock()
	if cur := e.run; cur != prev {
		sh.mu.Unlock()
		return playbook.Run{}, conflict(r, cur.Version)
	}
	e.run = &snap
	sh.mu.Unlock()
	r.Version++
	return r, nil
}

func conflict(r playbook.Run, stored int64) error {
	return fmt.Errorf("store: UpdateRun %q: stored version is %d, update is based on %d: %w",
		r.ID, stored, r.Version, playbook.ErrVersionConflict)
}

// GetRun returns a copy of run id, or an error wrapping
// playbook.ErrRunNotFound.
func (m *Memory) GetRun(ctx context.Context, id string) (playbook.Run, error) {
	if err := ctx.Err(); err != nil {
		return playbook.Run{}, err
	}
	sh := m.shardFor(id)
	sh.mu.Lock()
	e := sh.runs[id]
	var snap *playbook.Run
	if e != nil {
		snap = e.run
	}
	sh.mu.Unlock()
	if snap == nil {
		return playbook.Run{}, fmt.Errorf("store: GetRun %q: %w", id, playbook.ErrRunNotFound)
	}
	return cloneRun(*snap), nil
}

// ListRuns returns copies of the runs whose current State and Subject match
// f (a zero field matches everything), oldest first: ordered by CreatedAt,
// then by the order CreateRun stored them. With f.Limit > 0 it returns at
// most the f.Limit oldest matches. A negative Limit is an error. The result
// is a consistent snapshot of each run, not of the store as a whole: runs
// created or updated during the call may or may not be included.
func (m *Memory) ListRuns(ctx context.Context, f playbook.RunFilter) ([]playbook.Run, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.Limit < 0 {
		return nil, fmt.Errorf("store: ListRuns: limit %d is negative (0 means no limit)", f.Limit)
	}
	type match struct {
		run *playbook.Run
		seq uint64
	}
	var found []match
	for i := range m.shards {
		sh := &m.shards[i]
		sh.mu.Lock()
		for _, e := range sh.runs {
			r := e.run
			if (f.State == "" || r.State == f.State) && (f.Subject == "" || r.Subject == f.Subject) {
				found = append(found, match{r, e.seq})
			}
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(found, func(a, b match) int {
		if c := a.run.CreatedAt.Compare(b.run.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	if f.Limit > 0 && len(found) > f.Limit {
		found = found[:f.Limit]
	}
	out := make([]playbook.Run, len(found))
	for i, mt := range found {
		out[i] = cloneRun(*mt.run)
	}
	return out, nil
}

// PutStep stores a copy of s as the journal entry (s.RunID, s.StepID),
// replacing an entry with the same StepID in place (so the entry keeps the
// position of its first put) or appending a new one. It returns an error
// naming the field if RunID or StepID is empty, and an error wrapping
// playbook.ErrRunNotFound if the run has not been created: a journal always
// belongs to a stored run.
func (m *Memory) PutStep(ctx context.Context, s playbook.StepRecord) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	switch {
	case s.RunID == "":
		return errors.New("store: PutStep: run id is empty")
	case s.StepID == "":
		return fmt.Errorf("store: PutStep for run %q: step id is empty", s.RunID)
	}
	s.Result = bytes.Clone(s.Result)
	sh := m.shardFor(s.RunID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.runs[s.RunID]
	if e == nil {
		return fmt.Errorf("store: PutStep %q of run %q: %w", s.StepID, s.RunID, playbook.ErrRunNotFound)
	}
	if i := e.stepIndex(s.StepID); i >= 0 {
		e.steps[i] = s
		return nil
	}
	if e.steps == nil {
		e.steps = make([]playbook.StepRecord, 0, initialSteps)
	}
	e.steps = append(e.steps, s)
	switch n := len(e.steps); {
	case e.index != nil:
		e.index[s.StepID] = n - 1
	case n > linearSteps:
		e.index = make(map[string]int, 2*n)
		for i, st := range e.steps {
			e.index[st.StepID] = i
		}
	}
	return nil
}

// stepIndex returns the position of step id in e.steps, or -1. The caller
// holds the shard lock.
func (e *runEntry) stepIndex(id string) int {
	if e.index != nil {
		if i, ok := e.index[id]; ok {
			return i
		}
		return -1
	}
	for i := range e.steps {
		if e.steps[i].StepID == id {
			return i
		}
	}
	return -1
}

// Steps returns copies of run runID's journal entries in the order their
// StepIDs were first put. A run that does not exist, or has no steps, has
// an empty journal: Steps returns nil and no error.
func (m *Memory) Steps(ctx context.Context, runID string) ([]playbook.StepRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sh := m.shardFor(runID)
	sh.mu.Lock()
	var out []playbook.StepRecord
	if e := sh.runs[runID]; e != nil && len(e.steps) > 0 {
		out = slices.Clone(e.steps)
	}
	sh.mu.Unlock()
	for i := range out {
		out[i].Result = bytes.Clone(out[i].Result)
	}
	return out, nil
}

// ClaimEvent claims event key for run runID until expires, as of now. A
// claim holds while now is before its expiry: at the expiry instant it is
// expired. If key is held by an unexpired claim (even one of runID itself),
// ClaimEvent leaves that claim unchanged and returns its owner and false.
// Otherwise it takes the claim, replacing an expired one, and returns runID
// and true; a claim whose expires is not after now is taken and is expired
// at once. Empty key or runID is an error.
//
// Times are compared as given: callers should pass a now that does not go
// backwards. Each call first drops every claim that expired by now, so the
// claims held never outnumber the unexpired ones.
func (m *Memory) ClaimEvent(ctx context.Context, key, runID string, now, expires time.Time) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	switch {
	case key == "":
		return "", false, errors.New("store: ClaimEvent: event key is empty")
	case runID == "":
		return "", false, fmt.Errorf("store: ClaimEvent %q: run id is empty", key)
	}
	owner, claimed := m.claims.claim(key, runID, now, expires)
	return owner, claimed, nil
}
