package fake

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Script is a playbook.Trigger that emits a fixed list of events in order,
// then waits for its context to end.
//
// Events whose Subject.Provider is empty get the provider's name. Script
// keeps a cursor: an event counts as delivered once emit returned for it,
// whatever it returned (the result is kept, see Results), unless emit
// returned because the context ended, in which case the event is emitted
// again by the next Run. Script is safe for concurrent use, but Run calls
// take turns: a second Run waits until the first returns.
type Script struct {
	run sync.Mutex // held by Run

	mu      sync.Mutex
	events  []playbook.Event
	next    int
	results []error
	done    chan struct{}
}

// Trigger returns a Script that emits events in order. The events are
// copied.
func (p *Provider) Trigger(events ...playbook.Event) *Script {
	evs := slices.Clone(events)
	for i := range evs {
		if evs[i].Subject.Provider == "" {
			evs[i].Subject.Provider = p.name
		}
	}
	return &Script{events: evs, done: make(chan struct{})}
}

var _ playbook.Trigger = (*Script)(nil)

// Run emits the events not delivered yet, in order, then blocks until ctx
// ends and returns nil. It returns nil as soon as ctx ends.
func (s *Script) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	if emit == nil {
		return errors.New("fake: Script.Run: emit is nil")
	}
	s.run.Lock()
	defer s.run.Unlock()
	for {
		s.mu.Lock()
		if s.next >= len(s.events) {
			s.markDoneLocked()
			s.mu.Unlock()
			break
		}
		ev := s.events[s.next]
		s.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		err := emit(ctx, ev)
		if ctx.Err() != nil && err != nil {
			return nil
		}
		s.mu.Lock()
		s.next++
		s.results = append(s.results, err)
		s.mu.Unlock()
	}
	<-ctx.Done()
	return nil
}

func (s *Script) markDoneLocked() {
	select {
	case <-s.done:
	default:
		close(s.done)
	}
}

// Done returns a channel closed once every event has been delivered.
func (s *Script) Done() <-chan struct{} { return s.done }

// Results returns what emit returned for each delivered event, in order.
func (s *Script) Results() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.results)
}

// Feed is a playbook.Trigger fed by its Emit method, so that a test can
// push events into a running runner one at a time and learn how each was
// received.
//
// Any number of Run calls may serve one Feed; each event goes to one of
// them. A Feed is safe for concurrent use.
type Feed struct {
	name string
	ch   chan feedItem
}

type feedItem struct {
	ctx   context.Context
	ev    playbook.Event
	reply chan error
}

// Feed returns a new, empty Feed.
func (p *Provider) Feed() *Feed {
	return &Feed{name: p.name, ch: make(chan feedItem)}
}

var _ playbook.Trigger = (*Feed)(nil)

// Run hands events passed to Emit to emit until ctx ends, then returns nil.
func (f *Feed) Run(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
	if emit == nil {
		return errors.New("fake: Feed.Run: emit is nil")
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case it := <-f.ch:
			if it.ctx.Err() != nil {
				it.reply <- it.ctx.Err()
				continue
			}
			it.reply <- emit(ctx, it.ev)
		}
	}
}

// Emit passes ev to a running Run and returns what the runner's emit
// returned. It blocks until a Run takes the event and emit returns, or
// until ctx ends (then it returns ctx.Err() and the event may or may not
// have been emitted). An empty Subject.Provider is set to the provider's
// name.
func (f *Feed) Emit(ctx context.Context, ev playbook.Event) error {
	if ev.Subject.Provider == "" {
		ev.Subject.Provider = f.name
	}
	it := feedItem{ctx: ctx, ev: ev, reply: make(chan error, 1)}
	select {
	case f.ch <- it:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-it.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
