package enrich_test

import (
	"context"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// trivial enrichers: the benchmarks measure the combinator's overhead
// (goroutines, timers, recovery, cache set-up), not the work.
var benchEnrichers = []playbook.Enricher{
	playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error { return nil }),
	playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error { return nil }),
	playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error { return nil }),
}

func BenchmarkParallel(b *testing.B) {
	g, err := enrich.Parallel(enrich.Options{},
		enrich.Required("a", benchEnrichers[0], 0),
		enrich.Optional("b", benchEnrichers[1], 0),
		enrich.Optional("c", benchEnrichers[2], 0))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	c := newCase()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.Enrich(ctx, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSequentialBaseline calls the same enrichers directly, one after
// the other: the floor against which BenchmarkParallel's overhead shows.
func BenchmarkSequentialBaseline(b *testing.B) {
	ctx := b.Context()
	c := newCase()
	b.ReportAllocs()
	for b.Loop() {
		for _, e := range benchEnrichers {
			if err := e.Enrich(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkLookupMemoized measures a Lookup served from the run's memory.
func BenchmarkLookupMemoized(b *testing.B) {
	fetch := func(context.Context) (string, error) { return "v", nil }
	e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		if _, err := enrich.Lookup(ctx, "k", fetch); err != nil {
			return err
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := enrich.Lookup(ctx, "k", fetch); err != nil {
				return err
			}
		}
		return nil
	})
	// The timeout only has to outlast the benchmark loop.
	g, err := enrich.Parallel(enrich.Options{}, enrich.Required("e", e, time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Enrich(b.Context(), newCase()); err != nil {
		b.Fatal(err)
	}
}
