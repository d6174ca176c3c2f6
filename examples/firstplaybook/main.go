package main

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/decide"
	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store"
)

// Build assembles the playbook from an identity provider's parts.
func Build(idp *fake.Provider, trail playbook.AuditSink) (playbook.Playbook, error) {
	// Enrich: profile and roles are required, risk is optional.
	enricher, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", idp.ProfileEnricher(), 5*time.Second),
		enrich.Required("roles", idp.RolesEnricher(), 5*time.Second),
		enrich.Optional("risk", idp.RiskEnricher(), 5*time.Second),
	)
	if err != nil {
		return playbook.Playbook{}, err
	}
	// Decide: high risk + privileged → approval, high + standard →
	// contain, medium → monitor, low → log; break-glass accounts never
	// contained automatically.
	matrix, err := decide.Matrix(decide.MatrixConfig{PrivilegedRoles: decide.DefaultPrivilegedRoles()})
	if err != nil {
		return playbook.Playbook{}, err
	}
	policy, err := decide.Protect(matrix, decide.ProtectConfig{Tags: []string{fake.TagBreakGlass}})
	if err != nil {
		return playbook.Playbook{}, err
	}
	// Contain: the provider's actions, retried on transient failures.
	actions := map[string]playbook.Action{}
	for name, a := range idp.Actions() {
		actions[name] = contain.Retry(a, contain.RetryPolicy{})
	}
	return playbook.Playbook{
		Name:            "risky-sign-in",
		Enricher:        enricher,
		Policy:          policy,
		Actions:         actions,
		ApprovalTimeout: 2 * time.Hour, // unanswered → denied → escalated
		Audit:           []playbook.AuditSink{trail},
	}, nil
}

func main() {
	idp := fake.New()
	if err := idp.AddUser(fake.User{ID: "u1", Login: "ana@example.com"}); err != nil {
		log.Fatal(err)
	}
	trail := audit.NewMemory()
	pb, err := Build(idp, trail)
	if err != nil {
		log.Fatal(err)
	}
	runner, err := playbook.NewRunner(pb, playbook.Options{
		Store:  store.NewMemory(), // runs live as long as the process
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runner.Run(ctx) }()

	id, err := runner.Handle(ctx, playbook.Event{
		ID: "det-1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh,
		Subject: idp.Subject("u1"), Reason: "unfamiliarFeatures",
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := runner.WaitIdle(ctx); err != nil {
		log.Fatal(err)
	}
	stop()
	if err := <-done; err != nil {
		log.Fatal(err)
	}

	run, err := runner.Store().GetRun(context.Background(), id)
	if err != nil {
		log.Fatal(err)
	}
	user, _ := idp.User("u1")
	fmt.Printf("outcome: %s by rule %s; account disabled: %v; audit records: %d\n",
		run.Outcome, run.Decision.Rule, user.Disabled, trail.Len())
}
