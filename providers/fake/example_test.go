package fake_test

import (
	"context"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// Seed a user, contain them, look at the directory, and undo.
func ExampleProvider() {
	ctx := context.Background()
	p := fake.New()
	if err := p.AddUser(fake.User{ID: "u1", Login: "alice@example.com"}); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := p.AssignRole("u1", "Global Administrator", ""); err != nil {
		fmt.Println(err)
		return
	}

	actions := p.Actions()
	disable := actions[playbook.ActionDisableUser]
	req := playbook.ActionRequest{RunID: "run-1", StepID: "contain/0/disable-user", IdempotencyKey: "run-1/0", Subject: p.Subject("u1"), Attempt: 1}
	res, err := disable.Execute(ctx, req)
	fmt.Println(res.Status, "-", res.Detail, string(res.Prior), err)

	res, _ = disable.Execute(ctx, req) // a retry with the same key
	fmt.Println(res.Status)

	u, _ := p.User("u1")
	fmt.Println("disabled:", u.Disabled, "writes:", p.WriteCount(fake.AnyOp))

	undoer, _ := playbook.AsUndoer(disable)
	undone, _ := undoer.Undo(ctx, playbook.ActionRequest{IdempotencyKey: "undo-1", Subject: p.Subject("u1")}, res)
	fmt.Println(undone.Status, "-", undone.Detail)
	// Output:
	// applied - disabled user u1 {"enabled":true} <nil>
	// already-applied
	// disabled: true writes: 1
	// undone - re-enabled user u1
}

// Enrichers fill a case's facts from the directory.
func ExampleProvider_Enrichers() {
	ctx := context.Background()
	p := fake.New()
	_ = p.AddUser(fake.User{ID: "u1", DisplayName: "Alice", Risk: playbook.RiskHigh, Tags: []string{fake.TagBreakGlass}})
	_, _ = p.AssignRole("u1", "global-admin", "")

	c := playbook.NewCase("run-1", playbook.Event{Type: playbook.EventRiskyUser, Subject: p.Subject("u1")})
	for _, name := range []string{fake.EnricherProfile, fake.EnricherRoles, fake.EnricherRisk} {
		if err := p.Enrichers()[name].Enrich(ctx, c); err != nil {
			fmt.Println(err)
		}
	}
	f := c.Snapshot()
	fmt.Println(f.Profile.DisplayName, f.Roles[0].Name, f.Privilege, f.Risk, f.Protected)

	err := p.ProfileEnricher().Enrich(ctx, playbook.NewCase("run-2", playbook.Event{Subject: p.Subject("ghost")}))
	fmt.Println(err)
	// Output:
	// Alice Global Administrator privileged high true
	// fake get-user: not found (status 404 UserNotFound): user "ghost" does not exist
}

// Script the provider's failures to test retry and escalation.
func ExampleProvider_Throttle() {
	ctx := context.Background()
	p := fake.New()
	_ = p.AddUser(fake.User{ID: "u1"})
	_, _ = p.AddSession("u1", playbook.Session{Device: "phone"})
	_ = p.Throttle(playbook.ActionRevokeSessions, 30*time.Second, 1)
	_ = p.Fail(playbook.ActionRevokeSessions, playbook.ErrUnavailable, 1)

	revoke := p.Actions()[playbook.ActionRevokeSessions]
	req := playbook.ActionRequest{IdempotencyKey: "k", Subject: p.Subject("u1")}
	for attempt := 1; attempt <= 3; attempt++ {
		req.Attempt = attempt
		res, err := revoke.Execute(ctx, req)
		if err != nil {
			d, _ := playbook.RetryAfter(err)
			fmt.Println(attempt, playbook.Classify(err), d)
			continue
		}
		fmt.Println(attempt, res.Status, "-", res.Detail)
	}
	// Output:
	// 1 throttled 30s
	// 2 transient 0s
	// 3 applied - revoked 1 sessions of user u1
}

// Persistent faults: every write is refused.
func ExampleProvider_SetFaults() {
	p := fake.New()
	_ = p.AddUser(fake.User{ID: "u1"})
	if err := p.SetFaults(fake.AnyOp, fake.Faults{PermissionDenied: true}); err != nil {
		fmt.Println(err)
	}
	_, err := p.Actions()[playbook.ActionDisableUser].Execute(context.Background(), playbook.ActionRequest{Subject: p.Subject("u1")})
	fmt.Println(err)
	fmt.Println(p.SetFaults(fake.AnyOp, fake.Faults{ErrorRate: 2}))
	// Output:
	// fake disable-user: permission denied (status 403 Forbidden): injected fault
	// fake: SetFaults "*": Faults.ErrorRate 2 is outside [0, 1]
}

// The call log records every call of the provider's API.
func ExampleProvider_Calls() {
	ctx := context.Background()
	p := fake.New()
	_ = p.AddUser(fake.User{ID: "u1"})
	_ = p.RolesEnricher().Enrich(ctx, playbook.NewCase("r", playbook.Event{Subject: p.Subject("u1")}))
	pl, _ := playbook.AsPlanner(p.Actions()[playbook.ActionConfirmCompromised])
	_, _ = pl.Plan(ctx, playbook.ActionRequest{Subject: p.Subject("u1")})
	_, _ = p.Actions()[playbook.ActionConfirmCompromised].Execute(ctx, playbook.ActionRequest{IdempotencyKey: "k", Subject: p.Subject("u1"), Attempt: 1})
	for _, c := range p.Calls() {
		fmt.Printf("%s %s %q write=%v\n", c.Op, c.Subject.ID, c.Status, c.Write)
	}
	fmt.Println(len(p.Writes()))
	// Output:
	// list-role-assignments u1 "" write=false
	// confirm-compromised/plan u1 "dry-run" write=false
	// confirm-compromised u1 "applied" write=true
	// 1
}

// A scripted trigger emits its events in order, then waits.
func ExampleProvider_Trigger() {
	p := fake.New()
	s := p.Trigger(
		playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Subject: playbook.Subject{ID: "u1"}},
		playbook.Event{ID: "e2", Type: playbook.EventRoleAssigned, Subject: playbook.Subject{ID: "u2"}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-s.Done()
		cancel()
	}()
	_ = s.Run(ctx, func(_ context.Context, ev playbook.Event) error {
		fmt.Println(ev.ID, ev.Type, ev.Subject.Key())
		return nil
	})
	// Output:
	// e1 risk.signin fake:u1
	// e2 privilege.role_assigned fake:u2
}

// A feed lets a test push events into a running trigger one at a time.
func ExampleFeed() {
	p := fake.New()
	f := p.Feed()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = f.Run(ctx, func(_ context.Context, ev playbook.Event) error {
			if ev.ID == "seen" {
				return fmt.Errorf("duplicate event %s", ev.ID)
			}
			return nil
		})
	}()
	fmt.Println(f.Emit(ctx, playbook.Event{ID: "new", Subject: playbook.Subject{ID: "u1"}}))
	fmt.Println(f.Emit(ctx, playbook.Event{ID: "seen", Subject: playbook.Subject{ID: "u1"}}))
	// Output:
	// <nil>
	// duplicate event seen
}
