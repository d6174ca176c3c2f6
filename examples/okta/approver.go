package main

import (
	"context"
	"log/slog"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// newApprover builds the responder's approver. For now it announces every
// request in the log and takes verdicts through the returned queue (bind
// it to the runner; queue.Approve and queue.Deny submit verdicts). A web
// approval channel replaces the log notice here once it exists; nothing
// else in the responder changes.
func newApprover(log *slog.Logger) (playbook.Approver, *approve.Queue) {
	queue := approve.NewQueue()
	notify := approve.Notifier(func(_ context.Context, r playbook.ApprovalRequest) error {
		log.Warn("approval requested",
			"approval_id", r.ID, "subject", r.Subject.Key(), "login", r.Subject.Login,
			"risk", r.Risk.String(), "rule", r.Decision.Rule, "deadline", r.Deadline,
			"summary_hash", r.SummaryHash)
		return nil
	})
	return approve.Fanout(notify, queue), queue
}
