package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// A run stored in the file is there when the store is opened again, by
// this process after a restart or by another one.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "iamplaybook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "runs.db")

	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	created := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	if err := s.CreateRun(ctx, playbook.Run{ID: "run-1", Subject: "okta:alice", State: playbook.RunWaiting, CreatedAt: created}); err != nil {
		log.Fatal(err)
	}
	if err := s.Close(); err != nil {
		log.Fatal(err)
	}

	s, err = sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	r, err := s.GetRun(ctx, "run-1")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.ID, r.Subject, r.State, r.Version)
	// Output: run-1 okta:alice waiting 1
}

// Only one runner may use a file at a time; a second one fails at once,
// told who holds it.
func ExampleStore_Lock() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "iamplaybook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "runs.db")
	first, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer first.Close()
	second, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer second.Close()

	unlock, err := first.Lock(ctx, "runner on host-a")
	if err != nil {
		log.Fatal(err)
	}
	_, err = second.Lock(ctx, "runner on host-b")
	fmt.Println(errors.Is(err, playbook.ErrStoreLocked))
	if err := unlock(); err != nil {
		log.Fatal(err)
	}
	unlock, err = second.Lock(ctx, "runner on host-b")
	fmt.Println(err)
	_ = unlock()
	// Output:
	// true
	// <nil>
}

// An operator tool opens the runner's file without the lock and posts a
// verdict; the runner reads its inbox and continues the run.
func ExampleStore_PostVerdict() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "iamplaybook-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "runs.db")
	runnerStore, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer runnerStore.Close()

	cli, err := sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	if err != nil {
		log.Fatal(err)
	}
	seq, err := cli.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-1", Approver: "lead@example.com",
		Approve: true, Reason: "confirmed with the user", Channel: "cli", At: time.Now()})
	if err != nil {
		log.Fatal(err)
	}
	cli.Close()

	items, err := runnerStore.InboxVerdicts(ctx, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, it := range items {
		fmt.Println(it.Seq == seq, it.Verdict.ApprovalID, it.Verdict.Approver, it.Verdict.Approve)
	}
	// Output: true apr-run-1 lead@example.com true
}
