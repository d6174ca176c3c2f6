package contain

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"sync"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Ledger records the results of executed actions by key, so that Once can
// tell that a key's effect is already in place.
//
// Get returns the result recorded under key and true, or false when there
// is none. Put records res under key, replacing any earlier record. Both
// must be safe for concurrent use; a result passed to Put or returned by
// Get must not be retained or modified by its receiver in a way the other
// side can see (copy the Prior and Response). Errors are returned as is to
// Once's caller; playbook.Classify treats unknown errors as transient.
// Implementations backed by a database should bound their own calls: Once
// calls Put with a context that is not cancelled with the caller's.
type Ledger interface {
	Get(ctx context.Context, key string) (playbook.ActionResult, bool, error)
	Put(ctx context.Context, key string, res playbook.ActionResult) error
}

// MemoryLedger is a Ledger held in memory, for tests and single-process
// hosts. It is safe for concurrent use; results are copied in and out. Its
// records last as long as the value; it never forgets.
type MemoryLedger struct {
	mu      sync.Mutex
	results map[string]playbook.ActionResult
}

// NewMemoryLedger returns an empty MemoryLedger.
func NewMemoryLedger() *MemoryLedger {
	return &MemoryLedger{results: make(map[string]playbook.ActionResult)}
}

var _ Ledger = (*MemoryLedger)(nil)

// Get returns a copy of the result recorded under key. It never fails and
// does not block.
func (l *MemoryLedger) Get(_ context.Context, key string) (playbook.ActionResult, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	res, ok := l.results[key]
	return copyResult(res), ok, nil
}

// Put records a copy of res under key. It never fails and does not block.
func (l *MemoryLedger) Put(_ context.Context, key string, res playbook.ActionResult) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.results[key] = copyResult(res)
	return nil
}

// Len returns the number of recorded results.
func (l *MemoryLedger) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

// copyResult copies res's Prior and (shallowly) its Response.
func copyResult(res playbook.ActionResult) playbook.ActionResult {
	res.Prior = bytes.Clone(res.Prior)
	res.Response = maps.Clone(res.Response)
	return res
}

// LedgerKey returns the key under which Once records the result of the
// action named action for the idempotency key idempotencyKey: the action
// name, a slash, and the idempotency key. The action name keeps two actions
// that share a ledger, and a host that reuses one idempotency key for
// several actions, from shadowing each other.
func LedgerKey(action, idempotencyKey string) string {
	return action + "/" + idempotencyKey
}

// Once returns an action that executes a at most once per idempotency key,
// as recorded in ledger: if the ledger holds a result for the request's key
// (see LedgerKey), Execute returns it with Status StatusAlreadyApplied
// without calling a; otherwise it executes a and, when a succeeds with
// StatusApplied or StatusAlreadyApplied, records the result. Failures and
// other statuses (a dry-run result) are not recorded, so the next call
// executes again.
//
// The runner's journal already guarantees that a step's effect happens at
// most once per run, across retries and crashes. Once protects against the
// rest: hosts that invoke actions outside the runner, and providers without
// native idempotency whose action would repeat its effect.
//
// Concurrent calls with the same key on the same Once action are serialised:
// the later ones wait, then find the first one's result. Waiting ends with
// ctx.Err() when ctx ends. When a succeeds but recording fails, Execute
// returns a's result together with an error saying so, so that the caller
// knows the guard did not take. A request without an IdempotencyKey is
// refused with an error wrapping playbook.ErrInvalidRequest (permanent).
//
// A recorded key stays recorded: after an Undo, executing the same key
// again reports StatusAlreadyApplied without effect; re-apply with a new
// key. The returned action keeps a's Name and unwraps to a; it does not
// decorate Plan or Undo. A nil a or ledger is reported by every Execute as a
// permanent error wrapping ErrInvalidConfig, without calling a.
func Once(a playbook.Action, ledger Ledger) playbook.Action {
	o := &once{inner: a, ledger: ledger, locks: make(map[string]*keyLock)}
	switch {
	case a == nil:
		o.err = configError("Once: nil action")
	case ledger == nil:
		o.err = configError("Once of action %q: nil ledger", a.Name())
	}
	return o
}

type once struct {
	inner  playbook.Action
	ledger Ledger
	err    error // configuration error, reported by every call

	mu    sync.Mutex
	locks map[string]*keyLock
}

// keyLock serialises the calls for one key; refs counts holders and waiters.
type keyLock struct {
	ch   chan struct{} // holds a token while locked
	refs int
}

// Name returns the wrapped action's name.
func (o *once) Name() string { return nameOf(o.inner) }

// Unwrap returns the wrapped action.
func (o *once) Unwrap() playbook.Action { return o.inner }

// Execute executes the wrapped action unless the ledger records the key.
func (o *once) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if o.err != nil {
		return playbook.ActionResult{}, o.err
	}
	if req.IdempotencyKey == "" {
		return playbook.ActionResult{}, fmt.Errorf("contain: Once of action %q: request has no IdempotencyKey: %w", o.Name(), playbook.ErrInvalidRequest)
	}
	key := LedgerKey(o.Name(), req.IdempotencyKey)
	unlock, err := o.lock(ctx, key)
	if err != nil {
		return playbook.ActionResult{}, err
	}
	defer unlock()

	res, ok, err := o.ledger.Get(ctx, key)
	if err != nil {
		return playbook.ActionResult{}, fmt.Errorf("contain: Once of action %q: reading ledger key %q: %w", o.Name(), key, err)
	}
	if ok {
		res.Status = playbook.StatusAlreadyApplied
		return res, nil
	}
	res, err = o.inner.Execute(ctx, req)
	if err != nil {
		return res, err
	}
	if res.Status == playbook.StatusApplied || res.Status == playbook.StatusAlreadyApplied {
		if err := o.ledger.Put(context.WithoutCancel(ctx), key, res); err != nil {
			return res, fmt.Errorf("contain: Once of action %q: executed (status %s) but recording ledger key %q failed: %w", o.Name(), res.Status, key, err)
		}
	}
	return res, nil
}

// lock takes the lock of key, waiting until it is free or ctx ends.
func (o *once) lock(ctx context.Context, key string) (unlock func(), err error) {
	o.mu.Lock()
	l := o.locks[key]
	if l == nil {
		l = &keyLock{ch: make(chan struct{}, 1)}
		o.locks[key] = l
	}
	l.refs++
	o.mu.Unlock()

	release := func() {
		o.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(o.locks, key)
		}
		o.mu.Unlock()
	}
	select {
	case l.ch <- struct{}{}:
		return func() { <-l.ch; release() }, nil
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
}
