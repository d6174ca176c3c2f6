package contain_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func ExampleRetry() {
	// A provider that fails twice with a 503, then disables the user.
	calls := 0
	disable := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		calls++
		fmt.Printf("attempt %d with key %s\n", req.Attempt, req.IdempotencyKey)
		if calls < 3 {
			return playbook.ActionResult{}, &playbook.ProviderError{Provider: "example", Op: "disable", Status: 503, Err: playbook.ErrUnavailable}
		}
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})

	// The zero RetryPolicy is a sensible default; the tiny delay keeps the
	// example fast.
	act := contain.Retry(disable, contain.RetryPolicy{InitialInterval: time.Nanosecond})
	res, err := act.Execute(context.Background(), playbook.ActionRequest{IdempotencyKey: "run-1/contain/0/disable-user", Attempt: 1})
	fmt.Println(res.Status, err)
	// Output:
	// attempt 1 with key run-1/contain/0/disable-user
	// attempt 2 with key run-1/contain/0/disable-user
	// attempt 3 with key run-1/contain/0/disable-user
	// applied <nil>
}

func ExampleRetry_permanent() {
	// A permanent error stops retrying at once; the RetryError says why and
	// keeps the cause.
	missing := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{}, &playbook.ProviderError{Provider: "example", Op: "disable", Status: 404, Err: playbook.ErrNotFound}
	})
	_, err := contain.Retry(missing, contain.RetryPolicy{}).Execute(context.Background(), playbook.ActionRequest{IdempotencyKey: "k"})

	var re *contain.RetryError
	if errors.As(err, &re) {
		fmt.Println(re.Reason, re.Attempts, errors.Is(err, playbook.ErrNotFound))
	}
	fmt.Println(err)
	// Output:
	// permanent 1 true
	// contain: execute "disable-user": gave up after 1 attempt (permanent): example disable: not found (status 404)
}

func ExampleRetryPolicy_Validate() {
	fmt.Println(contain.RetryPolicy{}.Validate())
	fmt.Println(contain.RetryPolicy{MaxAttempts: -1}.Validate())
	// Output:
	// <nil>
	// contain: invalid configuration: RetryPolicy.MaxAttempts is negative (-1)
}

func ExampleTimeout() {
	// An action that hangs until its context ends.
	hang := playbook.ActionFunc(playbook.ActionRevokeSessions, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		<-ctx.Done()
		return playbook.ActionResult{}, ctx.Err()
	})
	_, err := contain.Timeout(hang, time.Nanosecond).Execute(context.Background(), playbook.ActionRequest{})
	fmt.Println(errors.Is(err, contain.ErrAttemptTimeout), playbook.Classify(err))
	// Output:
	// true transient
}

func ExampleVerify() {
	disabled := false
	disable := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil // claims success but changes nothing
	})
	isDisabled := func(ctx context.Context, req playbook.ActionRequest, res playbook.ActionResult) error {
		if !disabled {
			return fmt.Errorf("user %s is still enabled", req.Subject.ID)
		}
		return nil
	}
	_, err := contain.Verify(disable, isDisabled).Execute(context.Background(), playbook.ActionRequest{Subject: playbook.Subject{ID: "u-1"}})
	fmt.Println(err)
	fmt.Println(errors.Is(err, contain.ErrVerificationFailed), playbook.Classify(err))
	// Output:
	// contain: execute "disable-user": verification failed: user u-1 is still enabled
	// true transient
}

func ExampleOnce() {
	// A provider without native idempotency: each call would act again.
	calls := 0
	resetPassword := playbook.ActionFunc(playbook.ActionResetCredentials, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		calls++
		return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "password reset"}, nil
	})
	ledger := contain.NewMemoryLedger()
	act := contain.Once(resetPassword, ledger)
	req := playbook.ActionRequest{IdempotencyKey: "ticket-42"}

	for range 3 {
		res, err := act.Execute(context.Background(), req)
		fmt.Println(res.Status, res.Detail, err)
	}
	_, recorded, _ := ledger.Get(context.Background(), contain.LedgerKey(playbook.ActionResetCredentials, "ticket-42"))
	fmt.Println("provider calls:", calls, "recorded:", recorded)
	// Output:
	// applied password reset <nil>
	// already-applied password reset <nil>
	// already-applied password reset <nil>
	// provider calls: 1 recorded: true
}

// removeRole is an action that can be undone.
type removeRole struct{}

func (removeRole) Name() string { return playbook.ActionRemoveRole }

func (removeRole) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	return playbook.ActionResult{Status: playbook.StatusApplied, Prior: []byte(`{"role":"Global Administrator"}`)}, nil
}

func (removeRole) Undo(ctx context.Context, req playbook.ActionRequest, done playbook.ActionResult) (playbook.ActionResult, error) {
	return playbook.ActionResult{Status: playbook.StatusUndone, Detail: "restored " + string(done.Prior)}, nil
}

func ExampleUndo() {
	ctx := context.Background()
	req := playbook.ActionRequest{IdempotencyKey: "run-1/contain/0/remove-role"}
	act := contain.Retry(removeRole{}, contain.RetryPolicy{}) // Undo is retried too

	done, _ := act.Execute(ctx, req)
	res, err := contain.Undo(ctx, act, req, done)
	fmt.Println(res.Status, res.Detail, err)

	revoke := playbook.ActionFunc(playbook.ActionRevokeSessions, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	_, err = contain.Undo(ctx, contain.Retry(revoke, contain.RetryPolicy{}), req, done)
	fmt.Println(err, errors.Is(err, contain.ErrNoUndo))
	// Output:
	// undone restored {"role":"Global Administrator"} <nil>
	// contain: undo "revoke-sessions": action cannot be undone true
}
