package main

import (
	"context"
	"fmt"
	"os"
)

// Verifying an audit trail's hash chain, as an auditor does before
// trusting it.
func Example_auditVerify() {
	code := run(context.Background(), []string{"audit", "verify", "testdata/trail.jsonl"}, os.Stdout, os.Stdout)
	fmt.Println("exit status", code)
	// Output:
	// testdata/trail.jsonl: 7 records, hash chain verified; head d67b3b36444241c2701e4e240325d9bbd58794711d45d9cb1763c135e34f3a7d
	// exit status 0
}
