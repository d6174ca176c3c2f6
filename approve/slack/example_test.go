package slackapprove_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	slackapprove "github.com/iamplaybook/iamplaybook/approve/slack"
	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// printer stands in for a runner: it prints the verdicts it receives.
type printer struct{}

func (printer) Submit(ctx context.Context, v playbook.Verdict) error {
	fmt.Printf("verdict: %s approve=%v by %s via %s\n", v.ApprovalID, v.Approve, v.Approver, v.Channel)
	return nil
}

// The approver posts each request to a channel as a message with Approve
// and Deny buttons, and replaces it with the outcome once settled.
func ExampleApprover_Request() {
	srv := slacktest.NewServer("xoxb-example") // Slack's Web API, emulated
	defer srv.Close()
	srv.AddChannel("C0SECOPS")

	ap, err := slackapprove.New(slackapprove.Config{
		Client:        srv.Client(), // slack.New(botToken) in production
		SigningSecret: "signing-secret",
		Channel:       "C0SECOPS",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := playbook.ApprovalRequest{
		ID:       "run-7:approval",
		Subject:  playbook.Subject{Provider: "entra", ID: "0c1d", Login: "gus@example.com"},
		Risk:     playbook.RiskHigh,
		Decision: playbook.Decision{Response: playbook.RespondApprove, Rule: "high-risk-admin", Steps: []playbook.Step{{Action: "disable-user"}}},
		Summary:  "Risky sign-in of a Global Administrator",
		Deadline: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC),
	}
	ctx := context.Background()
	_ = ap.Request(ctx, req)
	_ = ap.Request(ctx, req) // repeated after a crash: not posted twice
	m := srv.Messages()[0]
	fmt.Println(len(srv.Messages()), "message in", m.Channel+":", m.Text)

	_ = ap.Follow(ctx, playbook.ApprovalNotice{Kind: playbook.NoticeSettled, Request: req, Status: playbook.ApprovalApproved,
		Verdicts: []playbook.Verdict{{Approver: "alice@example.com", Approve: true, Channel: "slack", At: req.Deadline.Add(-time.Hour)}}})
	fmt.Println("updated:", srv.Messages()[0].Text)
	// Output:
	// 1 message in C0SECOPS: Approval needed for gus@example.com (entra): Risky sign-in of a Global Administrator
	// updated: Approved: gus@example.com (entra). Approved by alice@example.com.
}

// The handler verifies Slack's signature, identifies the person by the
// e-mail address Slack holds for them, submits the verdict, and tells the
// person the result in a message only they see.
func ExampleApprover_Handler() {
	srv := slacktest.NewServer("xoxb-example")
	defer srv.Close()
	srv.AddChannel("C0SECOPS")
	srv.AddUser(slacktest.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com"})

	ap, err := slackapprove.New(slackapprove.Config{
		Client:              srv.Client(),
		SigningSecret:       "signing-secret",
		Channel:             "C0SECOPS",
		ResponseURLPrefixes: []string{srv.URL()}, // Slack's hooks host in production
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ap.Bind(printer{}) // the *playbook.Runner in a real program
	_ = ap.Request(context.Background(), playbook.ApprovalRequest{ID: "run-7:approval", Summary: "Risky sign-in",
		Subject: playbook.Subject{ID: "gus"}, Deadline: time.Now().Add(time.Hour)})

	// Alice presses Approve; Slack signs the request it sends us.
	payload, _ := srv.Click(srv.Messages()[0], "U0ALICE", slackapprove.ActionApprove)
	req, _ := slacktest.SignRequest("https://approvals.example/slack/interactions", "signing-secret", time.Now(), payload)
	rec := httptest.NewRecorder()
	ap.Handler().ServeHTTP(rec, req)
	fmt.Println("status:", rec.Code)
	fmt.Println("alice sees:", srv.Responses()[0].Text)

	// The same press signed with another secret is refused.
	forged, _ := slacktest.SignRequest("https://approvals.example/slack/interactions", "guess", time.Now(), payload)
	rec = httptest.NewRecorder()
	ap.Handler().ServeHTTP(rec, forged)
	fmt.Println("forged:", rec.Code)
	// Output:
	// verdict: run-7:approval approve=true by alice@example.com via slack
	// status: 200
	// alice sees: Recorded: alice@example.com chose to approve request run-7:approval.
	// forged: 401
}

// VerifyRequest checks a request against Slack's v0 signing scheme; here
// with the example Slack's documentation gives.
func ExampleVerifyRequest() {
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	body := []byte(docBody)
	secret := []byte("8f742231b10e8888abcd99yyyzzz85a5")
	sent := time.Unix(1531420618, 0)

	fmt.Println(slackapprove.VerifyRequest(secret, h, body, sent.Add(time.Minute)))
	fmt.Println(slackapprove.VerifyRequest(secret, h, body, sent.Add(time.Hour)))
	fmt.Println(slackapprove.VerifyRequest([]byte("guess"), h, body, sent))
	// Output:
	// <nil>
	// slack request timestamp is outside the allowed window: signed at 2018-07-12T18:36:58Z, 1h0m0s ago
	// slack request signature is invalid: the signature does not match the body
}
