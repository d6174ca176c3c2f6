package approve_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// Rules are data: global-admin cases need two security leads, and the
// CISO is told after an hour and can then settle alone. Set them as
// Playbook.ApprovalRule; the runner asks them to count each verdict.
func ExampleRules() {
	rules := approve.Rules{
		Default: approve.Rule{Eligible: []string{"oncall@example.com"}},
		ByName: map[string]approve.Rule{
			"global-admin": {
				Groups:     map[string][]string{"security-leads": {"lead1@example.com", "lead2@example.com", "lead3@example.com"}},
				Quorum:     2,
				Deadline:   4 * time.Hour,
				Escalation: []approve.Tier{{After: time.Hour, Approvers: []string{"ciso@example.com"}, Decisive: true}},
			},
		},
	}
	if err := rules.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	req := playbook.ApprovalRequest{
		ID: "run-1:approval", Subject: playbook.Subject{ID: "u1", Login: "gus@example.com"},
		Decision:    playbook.Decision{Response: playbook.RespondApprove, Rule: "matrix", Approval: "global-admin"},
		RequestedAt: start, Deadline: start.Add(4 * time.Hour),
	}
	vote := func(prior []playbook.Verdict, who string, after time.Duration) []playbook.Verdict {
		v := playbook.Verdict{Approver: who, Approve: true, At: start.Add(after)}
		status, err := rules.Evaluate(req, prior, v)
		switch {
		case errors.Is(err, approve.ErrIneligible):
			fmt.Printf("%s: refused (%v)\n", who, err)
			return prior
		case err != nil:
			fmt.Println(err)
			return prior
		}
		fmt.Printf("%s: %s\n", who, status)
		return append(prior, v)
	}
	var votes []playbook.Verdict
	votes = vote(votes, "lead1@example.com", time.Minute)
	votes = vote(votes, "ciso@example.com", 30*time.Minute)
	_ = vote(votes, "lead2@example.com", 40*time.Minute)
	// Output:
	// lead1@example.com: pending
	// ciso@example.com: refused (approver is not eligible: "ciso@example.com" belongs to an escalation tier of rule "global-admin" that was not reached yet)
	// lead2@example.com: approved
}

// The rule a decision names also sets its request's timing: the runner
// takes the deadline from it, reminds every RemindEvery and tells each
// escalation tier when it is reached.
func ExampleRules_ApprovalSchedule() {
	rules := approve.Rules{ByName: map[string]approve.Rule{
		"global-admin": {
			Eligible:    []string{"lead1@example.com", "lead2@example.com"},
			Deadline:    4 * time.Hour,
			RemindEvery: time.Hour,
			Escalation:  []approve.Tier{{After: 2 * time.Hour, Approvers: []string{"ciso@example.com"}, Decisive: true}},
		},
	}}
	s, err := rules.ApprovalSchedule(playbook.Decision{Approval: "global-admin"})
	fmt.Println(s.Timeout, s.RemindEvery, s.Escalations, err)
	_, err = rules.ApprovalSchedule(playbook.Decision{Approval: "global-admins"})
	fmt.Println(err)
	// Output:
	// 4h0m0s 1h0m0s [2h0m0s] <nil>
	// unknown approval rule "global-admins" (defined: global-admin)
}
