package approve_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// A webhook tells an on-call system about requests, reminders and
// escalations; the receiver checks the signature before trusting a byte.
func ExampleWebhook() {
	secret := []byte("a shared secret of at least 32 bytes!")
	oncall := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := approve.VerifyWebhook(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		fmt.Println("on-call received", r.Header.Get(approve.HeaderDelivery))
	}))
	defer oncall.Close()

	hook, err := approve.NewWebhook(approve.WebhookConfig{URL: oncall.URL, Secret: secret})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := playbook.ApprovalRequest{ID: "run-1:approval", RunID: "run-1", Summary: "Subject: Gus Admin"}
	_ = hook.Request(context.Background(), req)
	_ = hook.Follow(context.Background(), playbook.ApprovalNotice{Kind: playbook.NoticeEscalation, Tier: 1, Request: req})
	// Output:
	// on-call received run-1:approval/requested
	// on-call received run-1:approval/escalation/1
}
