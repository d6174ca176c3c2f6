package sqlite_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

var discardLogger = slog.New(slog.DiscardHandler)

// runEvents runs n events of the core benchmark playbook through a runner
// on st with the given concurrency and returns how long they took, from
// the first Handle to the last run finished.
func runEvents(tb testing.TB, st playbook.Store, n, concurrency, producers int) time.Duration {
	tb.Helper()
	idp := playbooktest.BenchmarkProvider(tb, n)
	pb := playbooktest.BenchmarkPlaybook(tb, idp)
	r, err := playbook.NewRunner(pb, playbook.Options{Store: st, Logger: discardLogger, MaxQueued: 4096, Concurrency: concurrency})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range producers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if _, err := r.Handle(ctx, playbooktest.BenchmarkEvent(i)); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := r.WaitIdle(ctx); err != nil {
		tb.Fatal(err)
	}
	took := time.Since(start)
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	if got := idp.WriteCount(playbook.ActionDisableUser); got != n {
		tb.Fatalf("%d users disabled, want %d", got, n)
	}
	return took
}

// BenchmarkRunner runs the core benchmark playbook (the fake provider,
// three enrichers in parallel, two containment actions, a discarding
// audit sink) with b.N events on the memory store and then on a SQLite
// file, in one benchmark run, and reports both rates and their ratio.
// Each sub-benchmark is one durability level. Events arrive from 32
// goroutines at once, as from concurrent webhooks: a lone caller of Handle
// waits for two commits per event. The memory store runs with the core
// benchmark's 4 workers, the SQLite store with 128, because its workers
// wait on group commits that a larger pool fills. The CPU time per run
// says what the rate would be on idle cores when the machine is shared.
func BenchmarkRunner(b *testing.B) {
	for _, tc := range []struct {
		name string
		opt  sqlite.Options
	}{
		{"durability=full", sqlite.Options{Durability: sqlite.DurabilityFull}},
		{"durability=normal", sqlite.Options{Durability: sqlite.DurabilityNormal}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			mem := runEvents(b, store.NewMemory(), b.N, 4, 32)
			memCPU := cpuTime(b) - cpu0
			s, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "runs.db"), tc.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.ResetTimer()
			cpu0 = cpuTime(b)
			dur := runEvents(b, s, b.N, 128, 32)
			sqlCPU := cpuTime(b) - cpu0
			b.StopTimer()
			b.ReportMetric(float64(memCPU.Microseconds())/float64(b.N), "memory-cpu-µs/run")
			b.ReportMetric(float64(sqlCPU.Microseconds())/float64(b.N), "sqlite-cpu-µs/run")
			memRate := float64(b.N) / mem.Seconds()
			sqlRate := float64(b.N) / dur.Seconds()
			b.ReportMetric(memRate, "memory-runs/s")
			b.ReportMetric(sqlRate, "sqlite-runs/s")
			b.ReportMetric(sqlRate/memRate, "sqlite/memory")
		})
	}
}

// cpuTime returns the CPU time the process has used, user and system.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
