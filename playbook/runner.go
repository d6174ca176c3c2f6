package playbook

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/semaphore"

	"github.com/iamplaybook/iamplaybook/audit"
)

// Defaults for the zero Options.
const (
	DefaultConcurrency  = 32
	DefaultMaxQueued    = 10000
	DefaultDedupWindow  = 24 * time.Hour
	DefaultDrainTimeout = 30 * time.Second
)

// Options configure a Runner. The zero value works except for Store, which
// is required: choose store.NewMemory() for tests or a durable store for
// real use.
type Options struct {
	// Store persists runs and their journal. Required.
	Store Store
	// Concurrency bounds how many runs execute at once. Zero means
	// DefaultConcurrency.
	Concurrency int
	// MaxQueued bounds how many accepted runs may wait for execution;
	// Handle blocks beyond it (backpressure). Runs waiting for approval do
	// not count. Zero means DefaultMaxQueued.
	MaxQueued int
	// DedupWindow is how long an event id is remembered. Zero means
	// DefaultDedupWindow.
	DedupWindow time.Duration
	// DrainTimeout bounds how long Run keeps executing accepted runs after
	// its context ends. Runs still unfinished then are interrupted and stay
	// in the store for the next runner to resume. Zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
	// Clock is the source of time. Nil means SystemClock().
	Clock Clock
	// Logger receives diagnostics (not the audit trail). Nil means
	// slog.Default().
	Logger *slog.Logger
	// InboxPoll is how often the runner reads verdicts posted to the
	// store by other processes, when the store is a VerdictInbox. Zero
	// means DefaultInboxPoll.
	InboxPoll time.Duration
	// Owner describes this runner in the store's lock (see Locker), for
	// the error another runner gets. Empty means host name and process id.
	Owner string
}

// Runner errors.
var (
	// ErrDuplicate: the event's id was seen inside the de-duplication
	// window. Handle returns the original run's id with it.
	ErrDuplicate = errors.New("duplicate event")
	// ErrRunnerClosed: the runner's Run has returned.
	ErrRunnerClosed = errors.New("runner is closed")
	// ErrApprovalNotFound: no run waits for this approval id.
	ErrApprovalNotFound = errors.New("approval not found")
	// ErrApprovalClosed: the approval was already decided or expired.
	ErrApprovalClosed = errors.New("approval already decided")
	// ErrApprovalExpired: the verdict arrived after the deadline.
	ErrApprovalExpired = errors.New("approval deadline has passed")
	// ErrSelfApproval: the approver is the subject of the case or the actor
	// who caused the event.
	ErrSelfApproval = errors.New("approver may not approve a case about their own account or action")
	// ErrInvalidVerdict: the verdict is incomplete (no approver, no
	// channel) or names a summary the request did not show.
	ErrInvalidVerdict = errors.New("invalid verdict")
)

// Runner is the embedded engine. It executes a Playbook's runs in-process
// with bounded concurrency, runs about one subject one after the other,
// de-duplicates events, journals every step in the Store and resumes
// unfinished runs when it starts.
//
// A Runner's methods are safe for concurrent use. Run may be called once.
type Runner struct {
	pb    Playbook
	store Store
	clock Clock
	log   *slog.Logger
	sink  audit.Sink

	concurrency int
	inboxPoll   time.Duration
	owner       string
	dedupWindow time.Duration
	drain       time.Duration
	admit       *semaphore.Weighted

	approvalMu sync.Mutex // serializes verdicts and expirations
	undoMu     sync.Mutex // serializes Undo calls

	mu       sync.Mutex
	started  bool
	closed   bool
	handling sync.WaitGroup
	subjects map[string]*subjectQueue
	queuedID map[string]bool // runs on a subject queue, not yet picked up
	ready    []string        // subjects with queued runs and no worker
	haveWork *sync.Cond      // signalled when ready grows or stopping is set
	stopping bool            // workers return once ready is empty
	pending  int             // runs queued or executing
	idle     chan struct{}
	dl       deadlineHeap
	dlWake   chan struct{}
	ready1   chan struct{} // closed once Run has resumed and started its workers
}

type subjectQueue struct {
	runs   []queued
	active bool
}

// queued is a run waiting for a worker. admitted says whether it holds a
// unit of Runner.admit (runs from Handle do; continuations after a verdict
// and resumed runs do not, so that they never wait behind new events).
type queued struct {
	runID    string
	admitted bool
	// job, when set, is work other than a run pass that must not overlap
	// the subject's runs (an undo); runID is then empty.
	job func(ctx context.Context)
}

// NewRunner validates p and o and returns a runner. The error names the
// first field at fault.
func NewRunner(p Playbook, o Options) (*Runner, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if o.Store == nil {
		return nil, fmt.Errorf("playbook: Options.Store is required (store.NewMemory() for tests, a durable store for production)")
	}
	for name, v := range map[string]int64{"Concurrency": int64(o.Concurrency), "MaxQueued": int64(o.MaxQueued), "InboxPoll": int64(o.InboxPoll), "DedupWindow": int64(o.DedupWindow), "DrainTimeout": int64(o.DrainTimeout)} {
		if v < 0 {
			return nil, fmt.Errorf("playbook: Options.%s is negative", name)
		}
	}
	r := &Runner{
		pb:          p,
		store:       o.Store,
		clock:       o.Clock,
		log:         o.Logger,
		concurrency: cmpOr(o.Concurrency, DefaultConcurrency),
		inboxPoll:   cmpOr(o.InboxPoll, DefaultInboxPoll),
		owner:       o.Owner,
		dedupWindow: cmpOr(o.DedupWindow, DefaultDedupWindow),
		drain:       cmpOr(o.DrainTimeout, DefaultDrainTimeout),
		subjects:    make(map[string]*subjectQueue),
		queuedID:    make(map[string]bool),
		dlWake:      make(chan struct{}, 1),
		ready1:      make(chan struct{}),
	}
	r.admit = semaphore.NewWeighted(int64(cmpOr(o.MaxQueued, DefaultMaxQueued)))
	r.haveWork = sync.NewCond(&r.mu)
	if r.clock == nil {
		r.clock = SystemClock()
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	r.log = r.log.With("playbook", p.Name)
	sinks := make([]audit.Sink, len(p.Audit))
	for i, s := range p.Audit {
		sinks[i] = s
	}
	r.sink = sinks[0]
	if len(sinks) > 1 {
		r.sink = audit.Multi(sinks...)
	}
	return r, nil
}

func cmpOr[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Playbook returns the playbook the runner executes.
func (r *Runner) Playbook() *Playbook { return &r.pb }

// Run starts the triggers, resumes unfinished runs found in the store,
// executes runs, and fires approval deadlines, until ctx ends. It then stops
// the triggers, refuses new events, and drains: runs already accepted are
// executed to the end (or to a wait for approval) for up to
// Options.DrainTimeout, after which they are interrupted and left in the
// store to be resumed. Run returns nil after a clean drain, or an error
// saying how many runs were interrupted. It may be called once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("playbook: Runner.Run called twice")
	}
	r.started = true
	r.mu.Unlock()

	if l, ok := r.store.(Locker); ok {
		unlock, err := l.Lock(ctx, r.ownerName())
		if err != nil {
			r.mu.Lock()
			r.closed = true
			r.mu.Unlock()
			return fmt.Errorf("playbook: runner not started: %w", err)
		}
		defer func() {
			if err := unlock(); err != nil {
				r.log.Error("releasing the store lock failed", "err", err)
			}
		}()
	}

	execCtx, cancelExec := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelExec()

	// Resume before dispatching, so that a run handed in before Run is
	// still on its queue and not queued twice.
	if err := r.resume(ctx); err != nil {
		r.log.Error("resuming unfinished runs failed", "err", err)
	}
	inbox, _ := r.store.(VerdictInbox)
	if inbox != nil {
		// Verdicts given while no runner ran count before the deadlines
		// that passed meanwhile fire: they were given in time.
		r.readInbox(ctx, inbox)
	}

	// A fixed pool of workers: goroutines (and their grown stacks) are
	// reused across runs.
	var workers sync.WaitGroup
	for range r.concurrency {
		workers.Go(func() { r.workLoop(execCtx) })
	}

	// Deadlines (and reminders) that fell due while no runner ran are
	// handled before Ready, so that a host that waits for Ready and then
	// for WaitIdle sees their runs escalated.
	r.fireDue(ctx)

	dlCtx, cancelDL := context.WithCancel(ctx)
	dlDone := make(chan struct{})
	go func() {
		defer close(dlDone)
		r.watchDeadlines(dlCtx)
	}()

	inboxDone := make(chan struct{})
	go func() {
		defer close(inboxDone)
		if inbox != nil {
			r.watchInbox(dlCtx, inbox, r.inboxPoll)
		}
	}()

	close(r.ready1)

	var triggers sync.WaitGroup
	for i, t := range r.pb.Triggers {
		triggers.Add(1)
		go func() {
			defer triggers.Done()
			err := r.safeTrigger(ctx, t)
			if err != nil && ctx.Err() == nil {
				r.log.Error("trigger stopped", "trigger", i, "err", err)
			}
		}()
	}

	<-ctx.Done()
	triggers.Wait()
	cancelDL()
	<-dlDone
	<-inboxDone

	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.handling.Wait()

	drainTimer := r.clock.NewTimer(r.drain)
	defer drainTimer.Stop()
	idle := r.idleChan()
	var interrupted bool
	var unfinished int
	select {
	case <-idle:
	case <-drainTimer.C():
		interrupted = true
		// Count before cancelling: interrupted runs leave the count as
		// their workers give them up.
		r.mu.Lock()
		unfinished = r.pending
		r.mu.Unlock()
		cancelExec()
	}
	r.mu.Lock()
	r.stopping = true
	r.haveWork.Broadcast()
	r.mu.Unlock()
	workers.Wait()
	if interrupted {
		return fmt.Errorf("playbook: drain timed out after %s; %d runs interrupted, left in the store to resume", r.drain, unfinished)
	}
	return nil
}

func (r *Runner) ownerName() string {
	if r.owner != "" {
		return r.owner
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("runner of playbook %q on %s (pid %d)", r.pb.Name, host, os.Getpid())
}

func (r *Runner) safeTrigger(ctx context.Context, t Trigger) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Stage: "trigger", Value: v, Stack: stack()}
		}
	}()
	return t.Run(ctx, func(ctx context.Context, ev Event) error {
		_, err := r.Handle(ctx, ev)
		return err
	})
}

// resume re-enqueues runs that a previous runner left unfinished and
// re-arms the deadlines of runs waiting for approval.
func (r *Runner) resume(ctx context.Context) error {
	var errs []error
	for _, st := range []RunState{RunRunning, RunPending} {
		runs, err := r.store.ListRuns(ctx, RunFilter{State: st})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, run := range runs {
			if r.enqueue(run.ID, run.Subject, false) {
				r.log.Info("resuming run", "run_id", run.ID, "state", run.State)
			}
		}
	}
	waiting, err := r.store.ListRuns(ctx, RunFilter{State: RunWaiting})
	if err != nil {
		errs = append(errs, err)
	}
	for _, run := range waiting {
		if run.Approval != nil && run.Approval.Status == ApprovalPending {
			r.addDeadline(run.ID, run.Approval.Request.Deadline)
		} else {
			// A verdict was recorded but the run never continued.
			r.enqueue(run.ID, run.Subject, false)
		}
	}
	return errors.Join(errs...)
}

// Handle accepts an event: it validates it, de-duplicates it, journals a new
// run and queues it for execution. It returns the run's id. Handle blocks
// while Options.MaxQueued runs are queued, until ctx ends.
//
// Errors: an invalid event returns an error wrapping ErrInvalidEvent (the
// rejection is audited); a duplicate returns the original run's id and
// ErrDuplicate (audited); ErrRunnerClosed after Run has returned; a store
// or audit failure is returned as is and no run starts.
func (r *Runner) Handle(ctx context.Context, ev Event) (string, error) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return "", ErrRunnerClosed
	}
	r.handling.Add(1)
	r.mu.Unlock()
	defer r.handling.Done()

	now := r.clock.Now().UTC()
	if ev.ID == "" {
		ev.ID = ev.Fingerprint()
	}
	if err := ev.Validate(r.pb.ExtraEventTypes...); err != nil {
		rec := audit.Record{Time: now, Type: audit.TypeEventRejected, EventID: ev.ID, Subject: subjectKeyOrEmpty(ev.Subject), Actor: "system", Error: err.Error(),
			Data: map[string]any{"event_type": string(ev.Type), "source": ev.Source}}
		if aerr := r.record(ctx, rec); aerr != nil {
			return "", errors.Join(err, aerr)
		}
		r.log.Warn("event rejected", "event_id", ev.ID, "err", err)
		return "", err
	}
	ev = redactEvent(ev)
	if err := r.admit.Acquire(ctx, 1); err != nil {
		return "", err
	}
	admitted := true
	defer func() {
		if admitted {
			r.admit.Release(1)
		}
	}()

	runID := uuid.NewString()
	owner, claimed, err := r.store.ClaimEvent(ctx, dedupKey(ev), runID, now, now.Add(r.dedupWindow))
	if err != nil {
		return "", fmt.Errorf("playbook: claiming event %q: %w", ev.ID, err)
	}
	if !claimed {
		if _, err := r.store.GetRun(ctx, owner); err == nil {
			rec := audit.Record{Time: now, Type: audit.TypeEventDuplicate, RunID: owner, EventID: ev.ID, Subject: ev.Subject.Key(), Actor: "system"}
			if aerr := r.record(ctx, rec); aerr != nil {
				return owner, errors.Join(ErrDuplicate, aerr)
			}
			return owner, ErrDuplicate
		} else if !errors.Is(err, ErrRunNotFound) {
			return "", err
		}
		// The claim's run was never created (a crash between the two
		// writes): take the claim's run id and create it now.
		runID = owner
	}
	run := Run{
		ID: runID, Event: ev, Subject: ev.Subject.Key(), State: RunPending,
		DryRun: r.pb.DryRun, CreatedAt: now, UpdatedAt: now,
	}
	rec := audit.Record{Time: now, Type: audit.TypeEventReceived, RunID: runID, EventID: ev.ID, Subject: run.Subject, Actor: "system",
		Data: map[string]any{"event": eventData(ev), "dry_run": r.pb.DryRun}}
	if err := r.record(ctx, rec); err != nil {
		return "", err
	}
	if err := r.store.CreateRun(ctx, run); err != nil {
		if errors.Is(err, ErrRunExists) {
			return runID, ErrDuplicate
		}
		return "", fmt.Errorf("playbook: storing run for event %q: %w", ev.ID, err)
	}
	admitted = false
	r.enqueue(runID, run.Subject, true)
	r.log.Debug("event accepted", "run_id", runID, "event_id", ev.ID, "type", ev.Type)
	return runID, nil
}

// HandleJSON decodes an event with DecodeEvent and handles it. A payload
// that does not decode is rejected with an error wrapping ErrInvalidEvent,
// and the rejection is audited with the payload's size and SHA-256 (never
// its content, which may hold secrets).
func (r *Runner) HandleJSON(ctx context.Context, data []byte) (string, error) {
	ev, err := DecodeEvent(data, r.pb.ExtraEventTypes...)
	if err != nil {
		sum := sha256.Sum256(data)
		rec := audit.Record{Time: r.clock.Now().UTC(), Type: audit.TypeEventRejected, Actor: "system", Error: err.Error(),
			Data: map[string]any{"payload_bytes": len(data), "payload_sha256": hex.EncodeToString(sum[:])}}
		if aerr := r.record(ctx, rec); aerr != nil {
			return "", errors.Join(err, aerr)
		}
		return "", err
	}
	return r.Handle(ctx, ev)
}

// redactEvent removes secrets from the parts of an event a source fills
// with free-form data (the raw payload, attributes, the reason), before the
// event reaches the store or the audit trail, by the rules of audit.Redact.
// The raw payload is re-encoded: the same JSON, with keys in sorted order.
func redactEvent(ev Event) Event {
	if len(ev.Raw) == 0 && len(ev.Attributes) == 0 && ev.Reason == "" {
		return ev
	}
	data := map[string]any{}
	if len(ev.Attributes) > 0 {
		data["attributes"] = ev.Attributes
	}
	if len(ev.Raw) > 0 {
		data["raw"] = ev.Raw
	}
	rec := audit.Redact(audit.Record{Error: ev.Reason, Data: data})
	ev.Reason = rec.Error
	if a, ok := rec.Data["attributes"].(map[string]string); ok {
		ev.Attributes = a
	}
	if raw, ok := rec.Data["raw"]; ok {
		if b, err := json.Marshal(raw); err == nil {
			ev.Raw = b
		}
	}
	return ev
}

func dedupKey(ev Event) string { return ev.Subject.Provider + "/" + ev.ID }

func subjectKeyOrEmpty(s Subject) string {
	if s.ID == "" {
		return ""
	}
	return s.Key()
}

func eventData(ev Event) map[string]any {
	m := map[string]any{
		"id": ev.ID, "type": string(ev.Type), "source": ev.Source, "risk": ev.Risk.String(),
		"subject": ev.Subject,
	}
	if ev.Actor != "" {
		m["actor"] = ev.Actor
	}
	if ev.Reason != "" {
		m["reason"] = ev.Reason
	}
	if !ev.OccurredAt.IsZero() {
		m["occurred_at"] = ev.OccurredAt.UTC()
	}
	if len(ev.Attributes) > 0 {
		m["attributes"] = ev.Attributes
	}
	if len(ev.Raw) > 0 {
		m["raw"] = ev.Raw
	}
	return m
}

// enqueue puts a run on its subject's queue. When admitted, the caller holds
// one unit of r.admit, released when the run's execution pass ends.
//
// A run already queued and not yet picked up is not queued twice (a resume
// at start meeting a run handed in just before, a verdict racing its
// deadline); an admitted duplicate gives its unit back.
//
// It reports whether the run was queued.
func (r *Runner) enqueue(runID, subject string, admitted bool) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queuedID[runID] {
		if admitted {
			r.admit.Release(1)
		}
		return false
	}
	r.queuedID[runID] = true
	r.pushLocked(subject, queued{runID: runID, admitted: admitted})
	return true
}

// enqueueJob puts job on subject's queue, behind the runs already there,
// and reports false when no runner is executing queues (not started, or
// closed): the caller then runs the job itself.
func (r *Runner) enqueueJob(subject string, job func(ctx context.Context)) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || r.closed {
		return false
	}
	r.pushLocked(subject, queued{job: job})
	return true
}

func (r *Runner) pushLocked(subject string, item queued) {
	if r.pending == 0 {
		r.idle = make(chan struct{})
	}
	r.pending++
	q := r.subjects[subject]
	if q == nil {
		q = &subjectQueue{}
		r.subjects[subject] = q
	}
	q.runs = append(q.runs, item)
	if !q.active {
		q.active = true
		r.ready = append(r.ready, subject)
		r.haveWork.Signal()
	}
}

// workLoop executes ready subjects until the runner stops. After ctx ends
// (the drain timed out) it starts nothing new.
func (r *Runner) workLoop(ctx context.Context) {
	for {
		r.mu.Lock()
		for len(r.ready) == 0 && !r.stopping {
			r.haveWork.Wait()
		}
		if len(r.ready) == 0 || ctx.Err() != nil {
			r.mu.Unlock()
			return
		}
		subject := r.ready[0]
		r.ready[0] = ""
		r.ready = r.ready[1:]
		r.mu.Unlock()
		r.work(ctx, subject)
	}
}

// work executes the next run of subject, then puts the subject back on the
// ready list if more runs are queued for it.
func (r *Runner) work(ctx context.Context, subject string) {
	r.mu.Lock()
	q := r.subjects[subject]
	next := q.runs[0]
	q.runs[0] = queued{}
	q.runs = q.runs[1:]
	delete(r.queuedID, next.runID)
	r.mu.Unlock()

	if next.job != nil {
		next.job(ctx)
	} else {
		r.advance(ctx, next.runID)
	}
	if next.admitted {
		r.admit.Release(1)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending--
	if r.pending == 0 && r.idle != nil {
		close(r.idle)
		r.idle = nil
	}
	if len(q.runs) > 0 {
		r.ready = append(r.ready, subject)
		r.haveWork.Signal()
		return
	}
	q.active = false
	delete(r.subjects, subject)
}

func (r *Runner) idleChan() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return r.idle
}

// Ready returns a channel closed once Run has resumed the store's
// unfinished runs, handled the approval deadlines that passed while no
// runner ran, and started executing: from then on WaitIdle accounts for
// them. It is never closed when Run fails to start (another runner holds
// the store's Locker), so wait for Run's return as well:
//
//	select {
//	case <-runner.Ready():
//	case err := <-runDone:
//		return err
//	}
func (r *Runner) Ready() <-chan struct{} { return r.ready1 }

// WaitIdle blocks until no run is queued or executing (runs waiting for a
// verdict do not count), or ctx ends. Tests and batch programs use it to
// wait for the runs they handed in to settle.
func (r *Runner) WaitIdle(ctx context.Context) error {
	select {
	case <-r.idleChan():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// record writes an audit record to every sink, after redacting secrets.
func (r *Runner) record(ctx context.Context, rec audit.Record) error {
	if rec.Time.IsZero() {
		rec.Time = r.clock.Now().UTC()
	}
	rec = audit.Redact(rec)
	if err := safeCall("audit sink", func() error { return r.sink.Record(ctx, rec) }); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	return nil
}

// ErrAuditFailed wraps a failed audit write. The run that needed the record
// stops and is escalated (fail closed).
var ErrAuditFailed = errors.New("audit write failed")

// idempotencyKey derives the key for a step from the run id and step id:
// the same on every retry and resume, unique across runs (run ids are
// UUIDs), and readable in the audit trail and provider logs.
func idempotencyKey(runID, stepID string) string {
	return runID + "/" + stepID
}

// ApprovalID returns the id of the approval request of run runID.
func ApprovalID(runID string) string { return runID + ":approval" }

func runIDFromApproval(id string) (string, bool) {
	const suffix = ":approval"
	if len(id) <= len(suffix) || id[len(id)-len(suffix):] != suffix {
		return "", false
	}
	return id[:len(id)-len(suffix)], true
}

// deadlines

type deadlineItem struct {
	runID string
	at    time.Time
}

// deadlineHeap orders the times at which waiting approvals need
// attention (a notice or the deadline), earliest first. It is guarded by
// Runner.mu.
type deadlineHeap struct {
	items []deadlineItem
	// known holds the runs this runner has checked since it started: a
	// run it has not seen yet is checked at once, so that notices that
	// fell due while no runner ran are sent.
	known map[string]bool
	// inflight holds the notices (run id | notice key) this runner is
	// delivering.
	inflight map[string]bool
}

func (h deadlineHeap) Len() int           { return len(h.items) }
func (h deadlineHeap) Less(i, j int) bool { return h.items[i].at.Before(h.items[j].at) }
func (h deadlineHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *deadlineHeap) Push(x any)        { h.items = append(h.items, x.(deadlineItem)) }
func (h *deadlineHeap) Pop() any {
	old := h.items
	it := old[len(old)-1]
	h.items = old[:len(old)-1]
	return it
}

// addDeadline asks for run runID's approval to be checked at at (its
// deadline or its next notice); a run this runner has not checked yet is
// checked at once.
func (r *Runner) addDeadline(runID string, at time.Time) {
	r.mu.Lock()
	if r.dl.known == nil {
		r.dl.known = make(map[string]bool)
	}
	if !r.dl.known[runID] {
		r.dl.known[runID] = true
		at = time.Time{}
	}
	heap.Push(&r.dl, deadlineItem{runID: runID, at: at})
	r.mu.Unlock()
	select {
	case r.dlWake <- struct{}{}:
	default:
	}
}

// watchApproval starts watching a request this runner just made: its
// first check is at first (its first notice or its deadline).
func (r *Runner) watchApproval(runID string, first time.Time) {
	r.mu.Lock()
	if r.dl.known == nil {
		r.dl.known = make(map[string]bool)
	}
	r.dl.known[runID] = true
	r.mu.Unlock()
	r.addDeadline(runID, first)
}

// forgetDeadline drops what the runner keeps about a run whose approval
// is settled.
func (r *Runner) forgetDeadline(runID string) {
	r.mu.Lock()
	delete(r.dl.known, runID)
	r.mu.Unlock()
}

// watchDeadlines fires approval deadlines, reminders and escalations: one
// timer for the earliest, no goroutine per waiting run.
func (r *Runner) watchDeadlines(ctx context.Context) {
	for {
		next := r.fireDue(ctx)
		var timer Timer
		var timerC <-chan time.Time
		if next >= 0 {
			timer = r.clock.NewTimer(next)
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-r.dlWake:
		case <-timerC:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// fireDue handles every deadline, reminder and escalation that is due, until
// none is, and returns how long until the next one (-1 for none).
func (r *Runner) fireDue(ctx context.Context) time.Duration {
	for {
		now := r.clock.Now()
		var due []string
		var next time.Duration = -1
		r.mu.Lock()
		for r.dl.Len() > 0 {
			if d := r.dl.items[0].at.Sub(now); d > 0 {
				next = d
				break
			}
			it := heap.Pop(&r.dl).(deadlineItem)
			if !slices.Contains(due, it.runID) {
				due = append(due, it.runID)
			}
		}
		r.mu.Unlock()
		if len(due) == 0 {
			return next
		}
		for _, id := range due {
			if err := r.approvalDue(ctx, id); err != nil && ctx.Err() == nil {
				r.log.Error("handling a due approval failed", "run_id", id, "err", err)
			}
		}
		if ctx.Err() != nil {
			return -1
		}
	}
}

// Store returns the store the runner journals in, for reading runs and
// their steps.
func (r *Runner) Store() Store { return r.store }
