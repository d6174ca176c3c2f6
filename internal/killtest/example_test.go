package killtest_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/iamplaybook/iamplaybook/internal/killtest"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// A Ledger applies a step once per idempotency key, however often it is
// asked, and Check finds a key applied twice when the provider is careless.
func ExampleLedger() {
	l := killtest.NewLedger()
	srv := httptest.NewServer(l)
	defer srv.Close()

	disable := killtest.NewPlaybook(srv.URL, srv.Client()).Actions[playbook.ActionDisableUser]
	req := playbook.ActionRequest{RunID: "run-1", StepID: "contain/0/disable-user", IdempotencyKey: "run-1/contain/0/disable-user",
		Subject: playbook.Subject{Provider: killtest.ProviderName, ID: "u-001"}}
	for attempt := 1; attempt <= 2; attempt++ {
		req.Attempt = attempt
		res, err := disable.Execute(context.Background(), req)
		fmt.Println(attempt, res.Status, err)
	}
	fmt.Println(l.Effects())
	// Output:
	// 1 applied <nil>
	// 2 already-applied <nil>
	// map[run-1/contain/0/disable-user:1]
}

// Check lists every broken guarantee; here the one event's run was never
// created.
func ExampleCheck() {
	events := killtest.Events(1)
	for _, err := range killtest.Check(context.Background(), store.NewMemory(), events, nil, nil) {
		fmt.Println(err)
	}
	// Output:
	// event ev-00000 has 0 runs, want exactly 1
}
