package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

func ExampleNewMemory() {
	ctx := context.Background()
	s := store.NewMemory()
	err := s.CreateRun(ctx, playbook.Run{ID: "run-1", Subject: "fake:u1", State: playbook.RunPending})
	fmt.Println("create:", err)

	r, err := s.GetRun(ctx, "run-1")
	fmt.Println(r.ID, r.State, "version", r.Version, err)

	_, err = s.GetRun(ctx, "run-2")
	fmt.Println(errors.Is(err, playbook.ErrRunNotFound))
	// Output:
	// create: <nil>
	// run-1 pending version 1 <nil>
	// true
}

// UpdateRun is a compare-and-swap on Version: of two writers that read the
// same version, the second loses and must re-read.
func ExampleMemory_UpdateRun() {
	ctx := context.Background()
	s := store.NewMemory()
	_ = s.CreateRun(ctx, playbook.Run{ID: "run-1", State: playbook.RunPending})

	a, _ := s.GetRun(ctx, "run-1")
	b, _ := s.GetRun(ctx, "run-1")

	a.State = playbook.RunRunning
	a, err := s.UpdateRun(ctx, a)
	fmt.Println("first writer:", a.State, "version", a.Version, err)

	b.Ticket = "SEC-1"
	_, err = s.UpdateRun(ctx, b)
	fmt.Println("second writer conflicts:", errors.Is(err, playbook.ErrVersionConflict))

	b, _ = s.GetRun(ctx, "run-1")
	b.Ticket = "SEC-1"
	b, err = s.UpdateRun(ctx, b)
	fmt.Println("after re-reading:", b.State, b.Ticket, "version", b.Version, err)
	// Output:
	// first writer: running version 2 <nil>
	// second writer conflicts: true
	// after re-reading: running SEC-1 version 3 <nil>
}

// ClaimEvent de-duplicates events: within the window the first run keeps
// the event; once the claim expires, a redelivery starts a new run.
func ExampleMemory_ClaimEvent() {
	ctx := context.Background()
	s := store.NewMemory()
	now := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	window := time.Hour

	owner, claimed, _ := s.ClaimEvent(ctx, "evt-42", "run-1", now, now.Add(window))
	fmt.Println(owner, claimed)

	later := now.Add(10 * time.Minute)
	owner, claimed, _ = s.ClaimEvent(ctx, "evt-42", "run-2", later, later.Add(window))
	fmt.Println(owner, claimed)

	muchLater := now.Add(window)
	owner, claimed, _ = s.ClaimEvent(ctx, "evt-42", "run-3", muchLater, muchLater.Add(window))
	fmt.Println(owner, claimed)
	// Output:
	// run-1 true
	// run-1 false
	// run-3 true
}

// PutStep journals a step and later replaces it in place, so Steps lists a
// run's journal in the order the steps were first put.
func ExampleMemory_PutStep() {
	ctx := context.Background()
	s := store.NewMemory()
	_ = s.CreateRun(ctx, playbook.Run{ID: "run-1"})

	_ = s.PutStep(ctx, playbook.StepRecord{RunID: "run-1", StepID: "enrich", Kind: playbook.StepEnrich, Status: playbook.StepDone})
	_ = s.PutStep(ctx, playbook.StepRecord{RunID: "run-1", StepID: "action-0", Kind: playbook.StepAction, Status: playbook.StepStarted})
	_ = s.PutStep(ctx, playbook.StepRecord{RunID: "run-1", StepID: "action-0", Kind: playbook.StepAction, Status: playbook.StepDone,
		Result: json.RawMessage(`{"status":"done"}`)})

	steps, _ := s.Steps(ctx, "run-1")
	for _, st := range steps {
		fmt.Printf("%s %s result=%s\n", st.StepID, st.Status, st.Result)
	}
	// Output:
	// enrich done result=
	// action-0 done result={"status":"done"}
}

// ListRuns finds the runs a restarted runner must resume, oldest first.
func ExampleMemory_ListRuns() {
	ctx := context.Background()
	s := store.NewMemory()
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	for i, st := range []playbook.RunState{playbook.RunRunning, playbook.RunDone, playbook.RunWaiting, playbook.RunRunning} {
		_ = s.CreateRun(ctx, playbook.Run{ID: fmt.Sprint("run-", i), State: st, CreatedAt: t0.Add(-time.Duration(i) * time.Minute)})
	}
	running, _ := s.ListRuns(ctx, playbook.RunFilter{State: playbook.RunRunning})
	for _, r := range running {
		fmt.Println(r.ID, r.CreatedAt.Format("15:04"))
	}
	oldest, _ := s.ListRuns(ctx, playbook.RunFilter{Limit: 1})
	fmt.Println("oldest:", oldest[0].ID)
	// Output:
	// run-3 08:57
	// run-0 09:00
	// oldest: run-3
}

// PendingApprovals lists the runs waiting for a verdict, the most urgent
// first.
func ExampleMemory_PendingApprovals() {
	ctx := context.Background()
	s := store.NewMemory()
	now := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	for id, wait := range map[string]time.Duration{"run-a": 4 * time.Hour, "run-b": time.Hour, "run-c": 24 * time.Hour} {
		_ = s.CreateRun(ctx, playbook.Run{ID: id, State: playbook.RunWaiting, CreatedAt: now, Approval: &playbook.Approval{
			Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{ID: "apr-" + id, Deadline: now.Add(wait)}}})
	}
	runs, _ := s.PendingApprovals(ctx, 2)
	for _, r := range runs {
		fmt.Println(r.ID, "due", r.Approval.Request.Deadline.Format(time.Kitchen))
	}
	// Output:
	// run-b due 10:00AM
	// run-a due 1:00PM
}

// A verdict posted to the inbox waits there until the runner reads and
// removes it.
func ExampleMemory_PostVerdict() {
	ctx := context.Background()
	s := store.NewMemory()
	at := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	seq, err := s.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-b", Approver: "lead@example.com", Approve: true, Channel: "web", At: at})
	fmt.Println(seq, err)
	_, err = s.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-b", Approver: "lead@example.com", Channel: "web"})
	fmt.Println(errors.Is(err, playbook.ErrInvalidVerdict))

	items, _ := s.InboxVerdicts(ctx, 0)
	for _, it := range items {
		fmt.Println(it.Seq, it.Verdict.ApprovalID, it.Verdict.Approve)
		_ = s.RemoveVerdict(ctx, it.Seq)
	}
	items, _ = s.InboxVerdicts(ctx, 0)
	fmt.Println(len(items))
	// Output:
	// 1 <nil>
	// true
	// 1 apr-run-b true
	// 0
}
