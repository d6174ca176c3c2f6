package playbook_test

import (
	"context"
	"fmt"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store"
)

// Approval-gated containment waits for a verdict; a false positive is
// undone from the journal, with the operator recorded.
func ExampleRunner_Submit() {
	idp := fake.New()
	_ = idp.AddUser(fake.User{ID: "gus", Login: "gus@example.com"})
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondApprove, Rule: "admins-need-approval",
			Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
	})
	r, _ := playbook.NewRunner(playbook.Playbook{Name: "example", Policy: policy, Actions: idp.Actions(),
		Audit: []playbook.AuditSink{audit.Discard}}, playbook.Options{Store: store.NewMemory(), Logger: discardLogger})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() { stop(); <-done }()

	id, _ := r.Handle(ctx, playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh, Subject: idp.Subject("gus")})
	_ = r.WaitIdle(ctx)

	// Gus cannot approve his own containment.
	err := r.Submit(ctx, playbook.Verdict{ApprovalID: playbook.ApprovalID(id), Approver: "gus@example.com", Approve: true, Channel: "web"})
	fmt.Println(err)

	_ = r.Submit(ctx, playbook.Verdict{ApprovalID: playbook.ApprovalID(id), Approver: "lead@example.com", Approve: true, Channel: "web", Reason: "confirmed"})
	_ = r.WaitIdle(ctx)
	run, _ := r.Store().GetRun(ctx, id)
	u, _ := idp.User("gus")
	fmt.Println(run.Outcome, "disabled:", u.Disabled)

	report, _ := r.Undo(ctx, id, "oncall@example.com", "false positive")
	u, _ = idp.User("gus")
	fmt.Println(report.Steps[0].StepID, report.Steps[0].Status, "disabled:", u.Disabled)
	// Output:
	// approver may not approve a case about their own account or action: "gus@example.com" is the subject of the case
	// contained disabled: true
	// contain/0/disable-user undone disabled: false
}
