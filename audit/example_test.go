package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// A durable, hash-chained trail: write records, then verify the file.
func ExampleJSONL() {
	dir, err := os.MkdirTemp("", "audit-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	key := []byte("kept-outside-the-log")

	log, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: key}) // zero Sync: group commit
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	_ = log.Record(ctx, audit.Record{Time: at, Type: audit.TypeEventReceived, RunID: "run-1", Subject: "entra:alice"})
	_ = log.Record(ctx, audit.Record{Time: at, Type: audit.TypeDecision, RunID: "run-1", Rule: "high-risk-standard", Outcome: "contain"})
	if err := log.Close(); err != nil {
		panic(err)
	}

	f, err := os.Open(path)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{HMACKey: key})
	fmt.Println("records:", rep.Records, "error:", err)

	// Someone edits the decision: the verifier points at the line.
	b, _ := os.ReadFile(path)
	tampered := strings.Replace(string(b), `"outcome":"contain"`, `"outcome":"log"`, 1)
	_, err = audit.Verify(strings.NewReader(tampered), audit.VerifyOptions{HMACKey: key})
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		fmt.Println("broken at line", ve.Line, "hash mismatch:", errors.Is(err, audit.ErrHashMismatch))
	}
	// Output:
	// records: 2 error: <nil>
	// broken at line 2 hash mismatch: true
}

// Fan out to several sinks; one failure does not keep the others from the
// record, and the error names the failing sink.
func ExampleMulti() {
	mem := audit.NewMemory()
	sink := audit.Multi(mem, audit.Failing(errors.New("siem unreachable")), audit.Discard)

	err := sink.Record(context.Background(), audit.Record{Type: audit.TypeRunResolved, Outcome: "contained"})
	fmt.Println(err)
	fmt.Println("stored in memory:", mem.Len())
	// Output:
	// audit: sink 1: siem unreachable
	// stored in memory: 1
}

// Redact removes secrets from a record before it is stored.
func ExampleRedact() {
	r := audit.Record{
		Type: audit.TypeActionResult,
		Data: map[string]any{
			"user":       "alice@example.com",
			"token_type": "Bearer",
			"request": map[string]any{
				"headers":       map[string]any{"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2ln"},
				"client_secret": "s3cr3t",
			},
			"message": "retried with SSWS 00abcdef",
		},
	}
	red := audit.Redact(r)
	req := red.Data["request"].(map[string]any)
	fmt.Println(red.Data["user"], red.Data["token_type"])
	fmt.Println(req["headers"].(map[string]any)["Authorization"], req["client_secret"])
	fmt.Println(red.Data["message"])
	fmt.Println("input untouched:", r.Data["request"].(map[string]any)["client_secret"])
	// Output:
	// alice@example.com Bearer
	// [REDACTED] [REDACTED]
	// retried with SSWS [REDACTED]
	// input untouched: s3cr3t
}

// MemoryTicketer is a working Ticketer for tests: Open is idempotent per run.
func ExampleMemoryTicketer() {
	ctx := context.Background()
	tk := audit.NewMemoryTicketer()
	ref, _ := tk.Open(ctx, audit.Ticket{RunID: "run-1", Title: "Risky sign-in: alice", Severity: "high"})
	same, _ := tk.Open(ctx, audit.Ticket{RunID: "run-1"})
	_ = tk.Update(ctx, ref, "sessions revoked")
	_ = tk.Close(ctx, ref, "contained")
	err := tk.Update(ctx, "TICKET-42", "x")

	fmt.Println(ref, same)
	for _, st := range tk.Tickets() {
		fmt.Println(st.Ref, st.Ticket.Title, st.Notes, st.Closed, st.Resolution)
	}
	fmt.Println(errors.Is(err, audit.ErrUnknownTicket))
	// Output:
	// TICKET-1 TICKET-1
	// TICKET-1 Risky sign-in: alice [sessions revoked] true contained
	// true
}

// Memory keeps redacted records; Filter selects some of them.
func ExampleMemory() {
	mem := audit.NewMemory()
	ctx := context.Background()
	_ = mem.Record(ctx, audit.Record{Type: audit.TypeActionIntent, Action: "disable_user"})
	_ = mem.Record(ctx, audit.Record{Type: audit.TypeActionResult, Action: "disable_user", Outcome: "succeeded"})
	results := mem.Filter(func(r audit.Record) bool { return r.Type == audit.TypeActionResult })
	fmt.Println(mem.Len(), len(results), results[0].Outcome)
	// Output:
	// 2 1 succeeded
}
