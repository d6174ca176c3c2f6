package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// ErrUnknownTicket is returned (wrapped) by MemoryTicketer.Update and Close
// for a reference that Open never returned.
var ErrUnknownTicket = errors.New("audit: unknown ticket")

// TicketState is a snapshot of one ticket held by a MemoryTicketer.
type TicketState struct {
	// Ref is the reference Open returned ("TICKET-1", "TICKET-2", ...).
	Ref string
	// Ticket is what the first Open for the run received.
	Ticket Ticket
	// Notes are the Update notes, oldest first.
	Notes []string
	// Closed reports whether Close was called.
	Closed bool
	// Resolution is the resolution given to the first Close.
	Resolution string
}

// MemoryTicketer is a working, in-memory Ticketer for tests and examples.
// Open is idempotent per Ticket.RunID; references are "TICKET-<n>", n
// counting from 1 in opening order. Update on a closed ticket still appends
// the note; Close on a closed ticket is a no-op that keeps the first
// resolution. Every method returns ctx.Err() without effect when ctx is
// already done.
//
// The zero value is not ready; use NewMemoryTicketer. All methods are safe
// for concurrent use.
type MemoryTicketer struct {
	mu      sync.Mutex
	byRun   map[string]string
	tickets map[string]*TicketState
	order   []string
}

var _ Ticketer = (*MemoryTicketer)(nil)

// NewMemoryTicketer returns a MemoryTicketer with no tickets.
func NewMemoryTicketer() *MemoryTicketer {
	return &MemoryTicketer{byRun: map[string]string{}, tickets: map[string]*TicketState{}}
}

// Open returns the reference of the run's ticket, creating it on first use.
// A second Open for the same RunID returns the same reference and ignores
// the new ticket's contents.
func (m *MemoryTicketer) Open(ctx context.Context, t Ticket) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if ref, ok := m.byRun[t.RunID]; ok {
		return ref, nil
	}
	ref := "TICKET-" + strconv.Itoa(len(m.order)+1)
	m.byRun[t.RunID] = ref
	m.tickets[ref] = &TicketState{Ref: ref, Ticket: t}
	m.order = append(m.order, ref)
	return ref, nil
}

// Update appends note to the ticket. An unknown ref yields an error
// wrapping ErrUnknownTicket.
func (m *MemoryTicketer) Update(ctx context.Context, ref, note string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.tickets[ref]
	if !ok {
		return fmt.Errorf("update %q: %w", ref, ErrUnknownTicket)
	}
	st.Notes = append(st.Notes, note)
	return nil
}

// Close marks the ticket closed with resolution. Closing a closed ticket is
// not an error and keeps the first resolution. An unknown ref yields an
// error wrapping ErrUnknownTicket.
func (m *MemoryTicketer) Close(ctx context.Context, ref, resolution string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.tickets[ref]
	if !ok {
		return fmt.Errorf("close %q: %w", ref, ErrUnknownTicket)
	}
	if !st.Closed {
		st.Closed = true
		st.Resolution = resolution
	}
	return nil
}

// Tickets returns a snapshot of every ticket in opening order. The result
// shares nothing with the ticketer.
func (m *MemoryTicketer) Tickets() []TicketState {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]TicketState, 0, len(m.order))
	for _, ref := range m.order {
		out = append(out, m.snapshot(ref))
	}
	return out
}

// Ticket returns a snapshot of the ticket with reference ref, and whether it
// exists.
func (m *MemoryTicketer) Ticket(ref string) (TicketState, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.tickets[ref]; !ok {
		return TicketState{}, false
	}
	return m.snapshot(ref), true
}

func (m *MemoryTicketer) snapshot(ref string) TicketState {
	st := *m.tickets[ref]
	st.Notes = append([]string(nil), st.Notes...)
	return st
}
