package playbook_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
)

// BenchmarkRunner measures the embedded runner end to end: the fake
// provider, three enrichers in parallel, two containment actions, the
// memory store and a memory audit sink. Compare with
// BenchmarkRunnerBaseline, which makes the same provider calls directly.
func BenchmarkRunner(b *testing.B) {
	idp := playbooktest.BenchmarkProvider(b, b.N)
	pb := playbooktest.BenchmarkPlaybook(b, idp)
	// The fake provider never waits, so workers beyond the cores only
	// contend for its lock; a real provider waits on the network, where
	// the default concurrency pays.
	r, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory(), Logger: discardLogger, MaxQueued: 4096, Concurrency: 4})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := r.Handle(ctx, playbooktest.BenchmarkEvent(i)); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.WaitIdle(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	if got := idp.WriteCount(playbook.ActionDisableUser); got != b.N {
		b.Fatalf("%d users disabled, want %d", got, b.N)
	}
}

// BenchmarkRunnerBaseline is the hand-written equivalent of one run: the
// same three enrichers and two actions called directly, on as many
// goroutines as the machine has, with no store, journal or audit.
func BenchmarkRunnerBaseline(b *testing.B) {
	idp := playbooktest.BenchmarkProvider(b, b.N)
	enrichers := []playbook.Enricher{idp.ProfileEnricher(), idp.RolesEnricher(), idp.RiskEnricher()}
	disable, _ := idp.Action(playbook.ActionDisableUser)
	revoke, _ := idp.Action(playbook.ActionRevokeSessions)
	var next atomic.Int64
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			ev := playbooktest.BenchmarkEvent(i)
			c := playbook.NewCase(ev.ID, ev)
			var wg sync.WaitGroup
			for _, e := range enrichers {
				wg.Go(func() { _ = e.Enrich(ctx, c) })
			}
			wg.Wait()
			d, _ := playbooktest.BenchmarkPolicy(ctx, c)
			for j, s := range d.Steps {
				a := disable
				if s.Action == playbook.ActionRevokeSessions {
					a = revoke
				}
				req := playbook.ActionRequest{RunID: ev.ID, StepID: fmt.Sprint(j), IdempotencyKey: fmt.Sprint(ev.ID, "/", j), Subject: ev.Subject, Attempt: 1}
				if _, err := a.Execute(ctx, req); err != nil {
					b.Error(err)
				}
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
}
