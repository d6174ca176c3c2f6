package enrich_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func ExampleParallel() {
	profile := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		c.Update(func(f *playbook.Facts) {
			f.Profile = &playbook.Profile{ID: c.Subject().ID, DisplayName: "Ada Lovelace", Enabled: true}
		})
		return nil
	})
	signIns := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		return &playbook.ProviderError{Provider: "entra", Op: "list-sign-ins", Status: 503, Err: playbook.ErrUnavailable}
	})

	g, err := enrich.Parallel(enrich.Options{MaxConcurrent: 4},
		enrich.Required("profile", profile, 2*time.Second),
		enrich.Optional("sign-ins", signIns, 5*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-42"}})
	err = g.Enrich(context.Background(), c)

	fmt.Println("error:", err)
	fmt.Println("profile:", c.Facts.Profile.DisplayName)
	for _, f := range c.Facts.Failures {
		fmt.Printf("missing %s (required %t): %s\n", f.Enricher, f.Required, f.Error)
	}
	// Output:
	// error: <nil>
	// profile: Ada Lovelace
	// missing sign-ins (required false): entra list-sign-ins: unavailable (status 503)
}

func ExampleParallel_nested() {
	tag := func(t string) playbook.Enricher {
		return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
			c.Update(func(f *playbook.Facts) { f.Tags = append(f.Tags, t) })
			return nil
		})
	}
	// The HR lookups are optional as a whole: if any required part of
	// them fails, the run goes on without them.
	hr, err := enrich.Parallel(enrich.Options{},
		enrich.Required("hr-record", tag("hr"), 0),
		enrich.Optional("hr-manager", tag("manager"), 0),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	g, err := enrich.Parallel(enrich.Options{},
		enrich.Required("directory", tag("directory"), 0),
		enrich.Optional("hr", hr, 3*time.Second),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-42"}})
	fmt.Println(g.Enrich(context.Background(), c))
	for _, t := range []string{"directory", "hr", "manager"} {
		fmt.Println(t, c.Facts.HasTag(t))
	}
	// Output:
	// <nil>
	// directory true
	// hr true
	// manager true
}

func ExampleError() {
	profile := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		return &playbook.ProviderError{Provider: "okta", Op: "get-user", Status: 404, Err: playbook.ErrNotFound}
	})
	g, err := enrich.Parallel(enrich.Options{}, enrich.Required("profile", profile, 0))
	if err != nil {
		fmt.Println(err)
		return
	}
	c := playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-42"}})
	err = g.Enrich(context.Background(), c)

	var ee *enrich.Error
	if errors.As(err, &ee) {
		fmt.Println("required enricher failed:", ee.Enricher)
	}
	fmt.Println("not found:", errors.Is(err, playbook.ErrNotFound))
	fmt.Println(err)
	// Output:
	// required enricher failed: profile
	// not found: true
	// enrich: required enricher "profile" failed: okta get-user: not found (status 404)
}

func ExampleTimeoutError() {
	// An enricher that waits for an answer that never comes; it honours
	// its context, which ends after the spec's timeout.
	hung := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		<-ctx.Done()
		return ctx.Err()
	})
	g, err := enrich.Parallel(enrich.Options{}, enrich.Required("risk", hung, time.Millisecond))
	if err != nil {
		fmt.Println(err)
		return
	}
	c := playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-42"}})
	err = g.Enrich(context.Background(), c)

	var te *enrich.TimeoutError
	if errors.As(err, &te) {
		fmt.Println(te.Enricher, te.Timeout)
	}
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	fmt.Println(c.Facts.Failures[0].Error)
	// Output:
	// risk 1ms
	// true
	// enricher "risk" timed out after 1ms
}

func ExampleLookup() {
	// Two enrichers need the same directory call; within one run it is
	// made once.
	var calls atomic.Int32
	getUser := func(ctx context.Context, id string) (playbook.Profile, error) {
		return enrich.Lookup(ctx, "directory.user:"+id, func(ctx context.Context) (playbook.Profile, error) {
			calls.Add(1)
			return playbook.Profile{ID: id, Department: "Finance", Manager: "u-7"}, nil
		})
	}
	department := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		p, err := getUser(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		c.Update(func(f *playbook.Facts) { f.Tags = append(f.Tags, "dept:"+p.Department) })
		return nil
	})
	manager := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		p, err := getUser(ctx, c.Subject().ID)
		if err != nil {
			return err
		}
		c.Update(func(f *playbook.Facts) { f.Tags = append(f.Tags, "manager:"+p.Manager) })
		return nil
	})
	g, err := enrich.Parallel(enrich.Options{},
		enrich.Optional("department", department, 0),
		enrich.Optional("manager", manager, 0),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	c := playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-42"}})
	if err := g.Enrich(context.Background(), c); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Facts.HasTag("dept:Finance"), c.Facts.HasTag("manager:u-7"))
	fmt.Println("directory calls:", calls.Load())
	// Output:
	// true true
	// directory calls: 1
}

func ExampleParallel_invalidSpec() {
	nop := playbook.EnricherFunc(func(context.Context, *playbook.Case) error { return nil })
	_, err := enrich.Parallel(enrich.Options{},
		enrich.Required("profile", nop, 0),
		enrich.Optional("profile", nop, 0),
	)
	fmt.Println(errors.Is(err, enrich.ErrInvalidSpec))
	fmt.Println(err)
	// Output:
	// true
	// enrich: invalid spec: specs[0] and specs[1] are both named "profile"
}
