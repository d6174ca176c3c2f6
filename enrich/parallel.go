package enrich

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// DefaultTimeout bounds an enricher whose Spec.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// ErrInvalidSpec is wrapped by every error Parallel returns for a bad Spec
// or Options; the message names the field at fault.
var ErrInvalidSpec = errors.New("enrich: invalid spec")

// errGoexit is the failure of an enricher that called runtime.Goexit (for
// example through t.FailNow) instead of returning.
var errGoexit = errors.New("enricher called runtime.Goexit instead of returning")

// Spec describes one enricher of a Group.
type Spec struct {
	// Name identifies the enricher in failures, errors and panics. It must
	// be non-empty and unique within a Group.
	Name string
	// Enricher does the work. Required.
	Enricher playbook.Enricher
	// Required marks an enricher whose failure fails the Group's Enrich.
	// An optional enricher's failure is only recorded on the case.
	Required bool
	// Timeout bounds the enricher, counted from when it starts (after it
	// has waited for a concurrency slot). Zero means DefaultTimeout;
	// negative is invalid.
	Timeout time.Duration
}

// Required returns the Spec of a required enricher: its failure is recorded
// on the case and fails the Group's Enrich. A zero timeout means
// DefaultTimeout.
func Required(name string, e playbook.Enricher, timeout time.Duration) Spec {
	return Spec{Name: name, Enricher: e, Required: true, Timeout: timeout}
}

// Optional returns the Spec of an optional enricher: its failure is recorded
// on the case and the run goes on without its facts. A zero timeout means
// DefaultTimeout.
func Optional(name string, e playbook.Enricher, timeout time.Duration) Spec {
	return Spec{Name: name, Enricher: e, Timeout: timeout}
}

// Options tunes a Group. The zero value is valid.
type Options struct {
	// MaxConcurrent is the number of enrichers that may run at once. Zero
	// means no limit (all at once); negative is invalid.
	MaxConcurrent int
}

// Error is the failure of a required enricher, as returned by Group.Enrich.
// Err is what the enricher failed with: its own error, a *TimeoutError, or
// a *playbook.PanicError.
type Error struct {
	// Enricher is the Spec.Name of the failed enricher.
	Enricher string
	// Err is the cause.
	Err error
}

// Error names the enricher and its cause.
func (e *Error) Error() string {
	return fmt.Sprintf("enrich: required enricher %q failed: %v", e.Enricher, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// TimeoutError reports an enricher that did not finish within its timeout.
// It is also the context.Cause of the context the enricher received, once
// that context's deadline has passed. errors.Is(err,
// context.DeadlineExceeded) holds for it.
type TimeoutError struct {
	// Enricher is the Spec.Name of the enricher.
	Enricher string
	// Timeout is the limit it exceeded.
	Timeout time.Duration
}

// Error says which enricher timed out after how long.
func (e *TimeoutError) Error() string {
	return fmt.Sprintf("enricher %q timed out after %s", e.Enricher, e.Timeout)
}

// Unwrap returns context.DeadlineExceeded.
func (e *TimeoutError) Unwrap() error { return context.DeadlineExceeded }

// Group runs enrichers in parallel. Build it with Parallel. A Group is
// immutable and safe for concurrent use: several runs may call Enrich at
// once, each on its own case.
type Group struct {
	specs []Spec
	limit int
}

var _ playbook.Enricher = (*Group)(nil)

// Parallel returns a Group that runs the enrichers of specs concurrently.
// It returns an error wrapping ErrInvalidSpec, and naming the field at
// fault, when a Spec has an empty or duplicate Name, a nil Enricher or a
// negative Timeout, or when opts.MaxConcurrent is negative. Parallel with
// no specs is valid and enriches nothing. The Group keeps its own copy of
// specs.
func Parallel(opts Options, specs ...Spec) (*Group, error) {
	if opts.MaxConcurrent < 0 {
		return nil, fmt.Errorf("%w: Options.MaxConcurrent is negative (%d)", ErrInvalidSpec, opts.MaxConcurrent)
	}
	seen := make(map[string]int, len(specs))
	for i, s := range specs {
		switch {
		case s.Name == "":
			return nil, fmt.Errorf("%w: specs[%d].Name is empty", ErrInvalidSpec, i)
		case s.Enricher == nil:
			return nil, fmt.Errorf("%w: specs[%d] (%q): Enricher is nil", ErrInvalidSpec, i, s.Name)
		case s.Timeout < 0:
			return nil, fmt.Errorf("%w: specs[%d] (%q): Timeout is negative (%s)", ErrInvalidSpec, i, s.Name, s.Timeout)
		}
		if j, dup := seen[s.Name]; dup {
			return nil, fmt.Errorf("%w: specs[%d] and specs[%d] are both named %q", ErrInvalidSpec, j, i, s.Name)
		}
		seen[s.Name] = i
	}
	return &Group{specs: append([]Spec(nil), specs...), limit: opts.MaxConcurrent}, nil
}

// outcome is how one enricher ended.
type outcome struct {
	err error
	// cut: the Group's own context ended before the enricher finished, so
	// the failure belongs to the cancellation, not to the enricher.
	cut bool
}

// Enrich runs the group's enrichers on c and returns when each has returned
// or reached its deadline.
//
// Every enricher gets a context derived from ctx that ends after its
// timeout, with a *TimeoutError as its cause. Failures (errors, timeouts,
// panics) are recorded on c with Case.RecordFailure, in the order of the
// specs, after all enrichers have ended. If required enrichers failed,
// Enrich returns their *Error values (joined when there are several); the
// other enrichers are not cancelled by a required failure.
//
// When ctx ends, Enrich stops starting enrichers, returns promptly without
// waiting for running ones to return, and returns an error wrapping
// ctx.Err(), joined with the *Error of any required enricher that had
// already failed. Failures that happened before ctx ended (and panics) are
// recorded; those of enrichers cut short by the cancellation are not, since
// they did not fail on their own.
//
// An enricher that ignores its context past its deadline is abandoned: its
// goroutine runs on until it returns, and Enrich reports it as timed out.
// Such an enricher breaks the playbook.Enricher contract; the cut protects
// the run's liveness, but any write it makes to c afterwards races with the
// stages that follow.
//
// A nil c is an error. Enrich sets up the per-run cache used by Lookup
// unless ctx already carries one (a nested Group shares its parent's).
func (g *Group) Enrich(ctx context.Context, c *playbook.Case) error {
	if c == nil {
		return errors.New("enrich: Enrich called with a nil case")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enrich: not started: %w", err)
	}
	if cacheFrom(ctx) == nil {
		cc := newCache()
		defer cc.close()
		ctx = context.WithValue(ctx, cacheKey{}, cc)
	}

	var sem chan struct{}
	if g.limit > 0 && g.limit < len(g.specs) {
		sem = make(chan struct{}, g.limit)
	}
	outcomes := make([]outcome, len(g.specs))
	if sem == nil {
		// No limit: start every enricher, then collect each outcome; the
		// waits overlap because every timeout runs from its start.
		running := make([]*started, len(g.specs))
		for i := range g.specs {
			running[i] = start(ctx, c, &g.specs[i])
		}
		for i, st := range running {
			outcomes[i] = st.wait(ctx)
		}
		return g.collect(ctx, c, outcomes)
	}
	var wg sync.WaitGroup
launch:
	for i := range g.specs {
		if sem != nil {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break launch
			}
		}
		wg.Go(func() {
			if sem != nil {
				defer func() { <-sem }()
			}
			outcomes[i] = runOne(ctx, c, &g.specs[i])
		})
	}
	wg.Wait()
	return g.collect(ctx, c, outcomes)
}

// collect records the failures on the case, in spec order, and returns the
// Group's error.
func (g *Group) collect(ctx context.Context, c *playbook.Case, outcomes []outcome) error {
	var failed []error
	for i, o := range outcomes {
		if o.err == nil || o.cut {
			continue
		}
		s := &g.specs[i]
		c.RecordFailure(s.Name, o.err, s.Required)
		if s.Required {
			failed = append(failed, &Error{Enricher: s.Name, Err: o.err})
		}
	}
	if err := ctx.Err(); err != nil {
		return errors.Join(append([]error{fmt.Errorf("enrich: interrupted: %w", err)}, failed...)...)
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return failed[0]
	}
	return errors.Join(failed...)
}

// runOne runs one enricher under its timeout, recovering a panic.
func runOne(ctx context.Context, c *playbook.Case, s *Spec) outcome {
	return start(ctx, c, s).wait(ctx)
}

// started is an enricher running in its own goroutine under its timeout.
type started struct {
	ectx   context.Context
	cancel context.CancelFunc
	terr   *TimeoutError
	done   chan error
}

// start launches one enricher under its timeout, recovering a panic.
func start(ctx context.Context, c *playbook.Case, s *Spec) *started {
	timeout := s.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	st := &started{terr: &TimeoutError{Enricher: s.Name, Timeout: timeout}, done: make(chan error, 1)} // buffered: an abandoned enricher must not block
	st.ectx, st.cancel = context.WithTimeoutCause(ctx, timeout, st.terr)
	go func() {
		err := errGoexit
		defer func() {
			if r := recover(); r != nil {
				err = &playbook.PanicError{Stage: "enrich " + s.Name, Value: r, Stack: debug.Stack()}
			}
			st.done <- err
		}()
		err = s.Enricher.Enrich(st.ectx, c)
	}()
	return st
}

// wait waits for the enricher's outcome or its timeout, whichever comes
// first; an enricher still running at its timeout is abandoned.
func (st *started) wait(ctx context.Context) outcome {
	defer st.cancel()
	var err error
	select {
	case err = <-st.done:
	case <-st.ectx.Done():
		select {
		case err = <-st.done:
		default:
			err = context.Cause(st.ectx) // abandoned
		}
	}
	if err == nil {
		return outcome{}
	}
	if _, panicked := errors.AsType[*playbook.PanicError](err); panicked {
		return outcome{err: err}
	}
	if ctx.Err() != nil {
		return outcome{err: err, cut: true}
	}
	if context.Cause(st.ectx) == error(st.terr) {
		// The deadline passed before the outcome was seen: whatever the
		// enricher returned, the cause is the timeout.
		return outcome{err: st.terr}
	}
	return outcome{err: err}
}
