package main

import (
	"context"
	"log/slog"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// newApprover builds the responder's approval channel, in one place so
// that the web approval channel can replace the log notice here later.
//
// For now, approvers are told through the log (one line per request,
// with the approval id, subject, risk, the decision's steps and the
// deadline), and verdicts arrive through the returned queue, which the
// caller binds to the runner: queue.Approve and queue.Deny, or
// Runner.Submit from any other channel the host wires in. The queue also
// keeps every request for inspection.
func newApprover(log *slog.Logger) (playbook.Approver, *approve.Queue) {
	queue := approve.NewQueue()
	notice := approve.Notifier(func(ctx context.Context, r playbook.ApprovalRequest) error {
		steps := make([]string, 0, len(r.Decision.Steps))
		for _, s := range r.Decision.Steps {
			steps = append(steps, s.Action)
		}
		log.WarnContext(ctx, "approval required",
			"approval_id", r.ID, "subject", r.Subject.Key(), "login", r.Subject.Login, "risk", r.Risk.String(),
			"rule", r.Decision.Rule, "steps", steps, "deadline", r.Deadline, "summary_sha256", r.SummaryHash)
		return nil
	})
	return approve.Fanout(notice, queue), queue
}
