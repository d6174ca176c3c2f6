package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Memory is a Sink that keeps redacted records in memory, in the order their
// Record calls completed. It is a working implementation meant for tests and
// for hosts that forward records elsewhere; it never forgets a record, so it
// grows without bound.
//
// The zero value is not ready; use NewMemory. All methods are safe for
// concurrent use.
type Memory struct {
	mu      sync.Mutex
	records []Record
}

var _ Sink = (*Memory)(nil)

// NewMemory returns an empty Memory sink.
func NewMemory() *Memory { return &Memory{} }

// Record stores a redacted copy of r. It returns ctx.Err() without storing
// anything when ctx is already done; otherwise it stores r and returns nil.
func (m *Memory) Record(ctx context.Context, r Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r = Redact(r)
	m.mu.Lock()
	m.records = append(m.records, r)
	m.mu.Unlock()
	return nil
}

// Records returns a copy of the stored records, oldest first. The slice is
// the caller's; the Data maps are shared with the sink and must not be
// modified.
func (m *Memory) Records() []Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Record(nil), m.records...)
}

// Filter returns the stored records for which keep returns true, oldest
// first. keep is called without the sink's lock held, on a snapshot.
func (m *Memory) Filter(keep func(Record) bool) []Record {
	var out []Record
	for _, r := range m.Records() {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

// Len returns the number of stored records.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.records)
}

// Discard is a Sink that drops every record and always returns nil. It is
// the null object: use it where a sink is required and no trail is wanted.
var Discard Sink = discard{}

type discard struct{}

func (discard) Record(context.Context, Record) error { return nil }

// ErrSinkFailed is the error of a Failing sink built with a nil error.
var ErrSinkFailed = errors.New("audit: sink failed")

// Failing returns a Sink whose Record stores nothing and always returns err
// (ErrSinkFailed when err is nil). Use it to test that a write failure
// stops a run (fail closed).
func Failing(err error) Sink {
	if err == nil {
		err = ErrSinkFailed
	}
	return SinkFunc(func(context.Context, Record) error { return err })
}

// Multi returns a Sink that offers every record to each of sinks, one after
// the other in the order given, on the caller's goroutine. A failing sink
// does not stop the others: every sink sees every record. Record returns
// nil when all sinks succeed, and otherwise the errors.Join of the failures,
// each wrapped as "audit: sink <index>: <err>" (errors.Is and errors.As see
// through both layers). ctx is passed to each sink unchanged.
//
// Multi copies the slice; nil sinks are skipped. The result is as safe for
// concurrent use as the sinks are.
func Multi(sinks ...Sink) Sink {
	ss := make([]Sink, 0, len(sinks))
	idx := make([]int, 0, len(sinks))
	for i, s := range sinks {
		if s != nil {
			ss = append(ss, s)
			idx = append(idx, i)
		}
	}
	return &multi{sinks: ss, idx: idx}
}

type multi struct {
	sinks []Sink
	idx   []int
}

func (m *multi) Record(ctx context.Context, r Record) error {
	var errs []error
	for i, s := range m.sinks {
		if err := s.Record(ctx, r); err != nil {
			errs = append(errs, &SinkError{Index: m.idx[i], Err: err})
		}
	}
	return errors.Join(errs...)
}

// SinkError is the error Multi reports for one failing sink.
type SinkError struct {
	// Index is the position of the sink in the arguments of Multi.
	Index int
	// Err is what the sink returned.
	Err error
}

// Error names the sink by index and gives its error.
func (e *SinkError) Error() string { return fmt.Sprintf("audit: sink %d: %v", e.Index, e.Err) }

// Unwrap returns Err.
func (e *SinkError) Unwrap() error { return e.Err }
