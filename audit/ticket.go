package audit

import "context"

// Ticket describes the case a ticket is opened for.
type Ticket struct {
	// RunID is the run the ticket tracks; a Ticketer may use it as an
	// idempotency key so that opening twice for one run yields one ticket.
	RunID string `json:"run_id"`
	// Subject is the key of the identity the run is about.
	Subject string `json:"subject"`
	// Title is a one-line summary.
	Title string `json:"title"`
	// Body is the initial description: event, facts, decision.
	Body string `json:"body"`
	// Severity is the event's risk level ("low", "medium", "high").
	Severity string `json:"severity"`
}

// Ticketer opens and updates tickets in a case-management system.
//
// Implementations must be safe for concurrent use. Open must be idempotent
// per Ticket.RunID: opening a ticket for a run that already has one returns
// the existing reference. Update and Close take the reference Open returned;
// Close on a closed ticket is not an error. Cancelling ctx may abandon the
// call and return ctx.Err(); the runner records the failure in the audit
// trail and goes on: a ticketing outage never blocks containment.
type Ticketer interface {
	Open(ctx context.Context, t Ticket) (ref string, err error)
	Update(ctx context.Context, ref, note string) error
	Close(ctx context.Context, ref, resolution string) error
}
