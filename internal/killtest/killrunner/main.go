package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/internal/killtest"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

type config struct {
	db, audit, events, provider string
	concurrency, feeders        int
	untilDone                   bool
}

func main() {
	var c config
	flag.StringVar(&c.db, "db", "", "SQLite store file (required)")
	flag.StringVar(&c.audit, "audit", "", "audit trail JSON Lines file (required)")
	flag.StringVar(&c.events, "events", "", "events, one JSON object per line (required)")
	flag.StringVar(&c.provider, "provider", "", "base URL of the provider (required)")
	flag.IntVar(&c.concurrency, "concurrency", 8, "runs executed at once")
	flag.IntVar(&c.feeders, "feeders", 8, "goroutines handing events in")
	flag.BoolVar(&c.untilDone, "until-done", false, "exit once every event has a run that finished or waits for a verdict")
	flag.Parse()
	if c.db == "" || c.audit == "" || c.events == "" || c.provider == "" {
		fmt.Fprintln(os.Stderr, "killrunner: -db, -audit, -events and -provider are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "killrunner:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out io.Writer) error {
	events, err := readEvents(c.events)
	if err != nil {
		return err
	}
	trail, err := audit.OpenJSONL(c.audit, audit.JSONLOptions{RepairTornTail: true})
	if err != nil {
		return err
	}
	defer trail.Close()
	st, err := sqlite.Open(ctx, c.db, sqlite.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	fed := make(chan error, 1)
	pb := killtest.NewPlaybook(c.provider, nil, trail)
	pb.Triggers = []playbook.Trigger{feeder(events, c.feeders, fed)}
	runner, err := playbook.NewRunner(pb, playbook.Options{Store: st, Concurrency: c.concurrency, Logger: logger, DrainTimeout: time.Second})
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	select {
	case <-runner.Ready():
	case err := <-done:
		return fmt.Errorf("runner stopped at start: %w", err)
	}
	fmt.Fprintln(out, "ready")

	select {
	case err := <-fed:
		if err != nil {
			cancel()
			return errors.Join(err, <-done)
		}
	case err := <-done:
		return fmt.Errorf("runner stopped: %v", err)
	}
	fmt.Fprintln(out, "fed", len(events))
	if !c.untilDone {
		return <-done
	}
	if err := runner.WaitIdle(ctx); err != nil {
		cancel()
		return errors.Join(err, <-done)
	}
	cancel()
	if err := <-done; err != nil {
		return err
	}
	return checkDone(context.Background(), st, events, out)
}

// feeder hands every event in with n goroutines, the newest (last in the
// file) first, so that a restarted runner starts on fresh work before it
// meets the duplicates of what earlier runners were given; it reports on fed when
// all were handed in (a duplicate counts as handed in), then waits for
// ctx to end.
func feeder(events []playbook.Event, n int, fed chan<- error) playbook.Trigger {
	return playbook.TriggerFunc(func(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
		next := make(chan playbook.Event)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var errs []error
		for range max(n, 1) {
			wg.Go(func() {
				for ev := range next {
					if err := emit(ctx, ev); err != nil && !errors.Is(err, playbook.ErrDuplicate) {
						mu.Lock()
						errs = append(errs, fmt.Errorf("event %s: %w", ev.ID, err))
						mu.Unlock()
					}
				}
			})
		}
	feed:
		for i := len(events) - 1; i >= 0; i-- {
			select {
			case next <- events[i]:
			case <-ctx.Done():
				break feed
			}
		}
		close(next)
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
		fed <- errors.Join(errs...)
		<-ctx.Done()
		return nil
	})
}

// checkDone reports whether every event has a run that finished or waits
// for a verdict.
func checkDone(ctx context.Context, st playbook.Store, events []playbook.Event, out io.Writer) error {
	runs, err := st.ListRuns(ctx, playbook.RunFilter{})
	if err != nil {
		return err
	}
	state := map[string]string{}
	for _, r := range runs {
		switch {
		case r.State == playbook.RunDone:
			state[r.Event.ID] = "done"
		case r.State == playbook.RunWaiting && r.Approval != nil && r.Approval.Status == playbook.ApprovalPending:
			state[r.Event.ID] = "waiting"
		}
	}
	var missing []string
	done, waiting := 0, 0
	for _, ev := range events {
		switch state[ev.ID] {
		case "done":
			done++
		case "waiting":
			waiting++
		default:
			missing = append(missing, ev.ID)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the runner settled with %d events unfinished (first: %s)", len(missing), missing[0])
	}
	fmt.Fprintln(out, "done", done, "waiting", waiting)
	return nil
}

func readEvents(path string) ([]playbook.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []playbook.Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var ev playbook.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}
