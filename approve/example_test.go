package approve_test

import (
	"context"
	"fmt"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// printer stands in for a runner: it prints the verdicts it receives.
type printer struct{}

func (printer) Submit(ctx context.Context, v playbook.Verdict) error {
	fmt.Printf("%s: approve=%v by %s (%s)\n", v.ApprovalID, v.Approve, v.Approver, v.Reason)
	return nil
}

// A queue records approval requests; a script answers them in tests and
// demonstrations, and Bind connects it to the runner.
func ExampleQueue() {
	q := approve.NewQueue()
	q.Bind(printer{}) // a *playbook.Runner in a real program
	q.Script(approve.AlwaysDeny("secops-lead", "not enough evidence"))
	_ = q.Request(context.Background(), playbook.ApprovalRequest{ID: "run-1:approval"})
	fmt.Println(len(q.Requests()), "request recorded")
	// Output:
	// run-1:approval: approve=false by secops-lead (not enough evidence)
	// 1 request recorded
}
