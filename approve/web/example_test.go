package web_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// A link names the approval, the approver and an expiry, signed with the
// host's key; altering any of them breaks the signature.
func ExampleHandler_Link() {
	h, err := web.New(web.Config{
		BaseURL: "https://iam.example.com/approve",
		Key:     []byte("use 32+ random bytes from a secret store"),
		Store:   store.NewMemory(), // the runner's store
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	link, _ := h.Link("run-1:approval", "lead@example.com", time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	fmt.Println(link)

	for _, u := range []string{link, strings.Replace(link, "lead%40", "mallory%40", 1)} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
		fmt.Println(rec.Code, rec.Header().Get("X-Frame-Options"))
	}
	// Output:
	// https://iam.example.com/approve?a=run-1%3Aapproval&e=1893456000&s=rNZlPX3Cn1mL-iKXszSloY5pkgxHMTtt_fahvU8GI1U&u=lead%40example.com
	// 404 DENY
	// 403 DENY
}

// An Approver sends each eligible approver a personal link; here the
// links are printed, in a service they go by e-mail or chat.
func ExampleNewApprover() {
	h, _ := web.New(web.Config{BaseURL: "https://iam.example.com/approve", Key: []byte("use 32+ random bytes from a secret store"), Store: store.NewMemory()})
	rules := approve.Rules{Default: approve.Rule{Eligible: []string{"lead@example.com", "ciso@example.com"}}}
	ap, err := web.NewApprover(h, rules, func(ctx context.Context, inv web.Invitation) error {
		fmt.Println("link for", inv.Approver)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Set ap as Playbook.Approver and call h.Bind(runner) once the runner
	// exists; the runner then calls Request for each approval.
	_ = ap.Request(context.Background(), playbook.ApprovalRequest{
		ID: "run-1:approval", Subject: playbook.Subject{ID: "u1", Login: "gus@example.com"},
		Decision: playbook.Decision{Response: playbook.RespondApprove, Rule: "matrix"},
		Deadline: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
	})
	// Output:
	// link for lead@example.com
	// link for ciso@example.com
}

// Links go to every channel configured: here the log and a second
// channel standing in for e-mail. One failing does not stop the other.
func ExampleDeliveries() {
	email := func(ctx context.Context, inv web.Invitation) error {
		fmt.Println("mail to", inv.Approver)
		return errors.New("mail server refused the message")
	}
	deliver := web.Deliveries(email, web.LogDeliver(slog.New(slog.DiscardHandler)))
	err := deliver(context.Background(), web.Invitation{Approver: "lead@example.com", URL: "https://approvals.example/approve?a=…"})
	fmt.Println(err)
	// Output:
	// mail to lead@example.com
	// mail server refused the message
}
