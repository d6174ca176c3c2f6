package playbook_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// A runner executes a playbook: events in, one outcome per event out, every
// step in the audit trail.
func ExampleNewRunner() {
	disable := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		return playbook.ActionResult{Status: playbook.StatusApplied, Detail: "disabled " + req.Subject.ID}, nil
	})
	policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		if c.Event.Risk == playbook.RiskHigh {
			return playbook.Decision{Response: playbook.RespondContain, Rule: "high-risk",
				Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}
		return playbook.Decision{Response: playbook.RespondLog, Rule: "default"}, nil
	})
	trail := audit.NewMemory()
	r, err := playbook.NewRunner(playbook.Playbook{
		Name: "example", Policy: policy,
		Actions: map[string]playbook.Action{playbook.ActionDisableUser: disable},
		Audit:   []playbook.AuditSink{trail},
	}, playbook.Options{Store: store.NewMemory(), Logger: discardLogger})
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	id, _ := r.Handle(ctx, playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh,
		Subject: playbook.Subject{Provider: "idp", ID: "u1"}})
	_ = r.WaitIdle(ctx)
	stop()
	<-done

	run, _ := r.Store().GetRun(context.Background(), id)
	fmt.Println(run.Outcome, run.Decision.Rule)
	for _, rec := range trail.Records() {
		fmt.Println(strings.TrimSpace(string(rec.Type) + " " + rec.Outcome))
	}
	// Output:
	// contained high-risk
	// event.received
	// enrichment
	// decision contain
	// action.intent
	// action.result applied
	// run.resolved contained
}

// Hosts add their own facts to a case with typed keys: no casts, and the
// values are journaled and audited with the case.
func ExampleKey() {
	hr := playbook.NewKey[string]("acme.hr_status")
	c := playbook.NewCase("run-1", playbook.Event{})
	hr.Set(c, "leaver")
	status, ok := hr.Get(c)
	fmt.Println(status, ok)
	// Output: leaver true
}

// Events from queues and webhooks are decoded strictly: unknown fields,
// missing subjects and unknown types are refused with errors that say why.
func ExampleDecodeEvent() {
	_, err := playbook.DecodeEvent([]byte(`{"type":"risk.signin","subject":{"id":""}}`))
	fmt.Println(err)
	ev, err := playbook.DecodeEvent([]byte(`{"id":"d1","type":"risk.signin","subject":{"provider":"entra","id":"u1"},"risk":"high"}`))
	fmt.Println(ev.Subject.Key(), ev.Risk, err)
	// Output:
	// invalid event: subject.id is required
	// entra:u1 high <nil>
}

// Providers translate vendor errors once; retry decisions never read
// error strings.
func ExampleClassify() {
	err := &playbook.ProviderError{Provider: "entra", Op: "PATCH /users/{id}", Status: 429,
		Code: "TooManyRequests", RetryAfter: 2500 * time.Millisecond, Err: playbook.ErrThrottled}
	after, _ := playbook.RetryAfter(err)
	fmt.Println(playbook.Classify(err), after)
	fmt.Println(playbook.Classify(fmt.Errorf("disable: %w", playbook.ErrNotFound)))
	fmt.Println(errors.Is(err, playbook.ErrThrottled))
	// Output:
	// throttled 2.5s
	// permanent
	// true
}

// A decision names its rule and, when it contains, its steps.
func ExampleDecision_Validate() {
	d := playbook.Decision{Response: playbook.RespondLog, Rule: "low-risk",
		Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}
	fmt.Println(d.Validate())
	// Output: playbook: rule "low-risk": response "log" must not carry steps
}
