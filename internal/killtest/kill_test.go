//go:build killtest

package killtest_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/internal/killtest"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

const (
	killEvents = 1000
	// minKills is how many SIGKILLs must land while runs were unfinished.
	minKills = 20
	// batches is how many parts the events are fed in: each runner
	// process starts with fresh work, so that kills land mid-run.
	batches = 50
)

// TestKillRunner runs the killtest playbook in a separate process on a
// SQLite file with 1,000 events, kills the process with SIGKILL at random
// moments at least 20 times while runs are unfinished, restarts it each
// time (approving, in every other start, the runs that wait for a verdict,
// through the store's inbox while the runner runs), lets the last runs
// finish, and checks with killtest.Check that every event ended in exactly
// one terminal outcome, that the provider applied no idempotency key
// twice, that no gated step ran before its approving verdict, and that the
// audit trail verifies and holds an intent and a result for every step the
// provider executed.
//
// This test measures real processes, so it uses real time: the moments of
// the kills are random, not timed assertions. KILLTEST_SEED replays a
// seed; KILLTEST_IGNORE_KEYS=1 makes the provider ignore idempotency keys
// (the test must then fail).
func TestKillRunner(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	bin := filepath.Join(dir, "killrunner")
	// The runner program is built without -race: the detector slows it
	// down so much that the kills would mostly land on start-up, and the
	// in-process resume tests run the same code under -race.
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./killrunner")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the runner program: %v\n%s", err, out)
	}

	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("KILLTEST_SEED"); s != "" {
		_, err := fmt.Sscan(s, &seed)
		require.NoError(t, err, "KILLTEST_SEED")
	}
	t.Logf("seed %d (replay with KILLTEST_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))

	ledger := killtest.NewLedger()
	ledger.IgnoreKeys = os.Getenv("KILLTEST_IGNORE_KEYS") == "1"
	srv := httptest.NewServer(ledger)
	t.Cleanup(srv.Close)

	dbPath := filepath.Join(dir, "runs.db")
	auditPath := filepath.Join(dir, "audit.jsonl")
	eventsPath := filepath.Join(dir, "events.jsonl")
	events := killtest.Events(killEvents)
	args := []string{"-db", dbPath, "-audit", auditPath, "-events", eventsPath, "-provider", srv.URL}

	fed, kills, idleKills, starts, approvals := 0, 0, 0, 0, 0
	// maxDelay adapts: kills that find every run finished halve it, so
	// that the next ones land while runs are in flight, whatever the
	// machine's speed.
	maxDelay := time.Second
	for kills < minKills || fed < len(events) {
		require.Less(t, starts, 400, "no progress: %d kills landed on unfinished runs after %d starts", kills, starts)
		if fed < len(events) {
			n := min(len(events)-fed, (len(events)+batches-1)/batches)
			appendEvents(t, eventsPath, events[fed:fed+n])
			fed += n
		}
		p := start(t, bin, args...)
		starts++
		if rng.IntN(2) == 0 {
			// An operator approves what waits, while the runner runs.
			approvals += approvePending(t, dbPath)
		}
		delay := time.Duration(rng.Int64N(int64(maxDelay)))
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-p.exited:
			timer.Stop()
			t.Fatalf("the runner exited on its own (%v):\n%s", p.err, p.stderr())
		}
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		<-p.exited
		var ee *exec.ExitError
		if !errors.As(p.err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("the runner ended with %v, not by SIGKILL:\n%s", p.err, p.stderr())
		}
		if countSettled(t, dbPath) < fed {
			kills++
		} else {
			idleKills++
			maxDelay = max(maxDelay/2, 20*time.Millisecond)
		}
	}
	before := ledger.Total()
	t.Logf("%d starts; %d kills with runs unfinished, %d with none; %d applications at the provider so far", starts, kills, idleKills, before)

	// The last starts run to the end: until every run finished or waits
	// for a verdict, then the operator approves what waits, and again.
	for round := 0; ; round++ {
		require.Less(t, round, 5, "runs still wait for approval after 5 rounds")
		if round > 0 && approvePending(t, dbPath) == 0 {
			break
		}
		p := start(t, bin, append(args, "-until-done")...)
		timer := time.NewTimer(90 * time.Second)
		select {
		case <-p.exited:
			timer.Stop()
		case <-timer.C:
			_ = p.cmd.Process.Kill()
			<-p.exited
			t.Fatalf("the last runner did not finish in 90s:\n%s", p.stderr())
		}
		require.NoError(t, p.err, "the last runner failed:\n%s", p.stderr())
	}
	t.Logf("the last runners applied %d steps; %d approvals posted in all", ledger.Total()-before, approvals)

	f, err := os.Open(auditPath)
	require.NoError(t, err)
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err, "the audit trail does not verify")
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	records, err := audit.ReadJSONL(f)
	require.NoError(t, err)
	require.Equal(t, rep.Records, uint64(len(records)))
	if torn, err := os.ReadFile(auditPath + ".torn"); err == nil {
		t.Logf("torn audit lines cut after kills: %d", bytes.Count(torn, []byte("\n")))
	}

	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	problems := killtest.Check(ctx, st, events, ledger.Effects(), records)
	for i, p := range problems {
		if i == 20 {
			t.Errorf("... and %d more", len(problems)-20)
			break
		}
		t.Error(p)
	}
	resolved := map[string]int{}
	for _, rec := range records {
		if rec.Type == audit.TypeRunResolved {
			resolved[rec.RunID]++
		}
	}
	repeated := 0
	for _, n := range resolved {
		if n > 1 {
			repeated++
		}
	}
	t.Logf("audit trail: %d records verified; %d runs resolved, %d of them recorded twice (killed between the record and the store write; same outcome)",
		rep.Records, len(resolved), repeated)
}

// proc is a started runner process.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
	mu     sync.Mutex
	errBuf bytes.Buffer
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errBuf.String()
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errBuf.Write(b)
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stderr = p
	stdout, err := p.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	go func() {
		// Drain stdout so the program never blocks writing it.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
		}
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	return p
}

func appendEvents(t *testing.T, path string, events []playbook.Event) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, ev := range events {
		require.NoError(t, enc.Encode(ev))
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	require.NoError(t, err)
	_, err = f.Write(b.Bytes())
	require.NoError(t, errors.Join(err, f.Close()))
}

// approvePending opens the store, as the operator CLI does while a runner
// may hold it, and approves every pending approval.
func approvePending(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	require.NoError(t, err)
	defer st.Close()
	n, err := killtest.ApprovePending(ctx, st, time.Now())
	require.NoError(t, err)
	return n
}

// countSettled opens the store between runner processes and counts the
// runs that finished or wait for a verdict.
func countSettled(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0 // killed before it created the file
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path, sqlite.Options{MustExist: true})
	require.NoError(t, err, "the store does not open after a kill")
	defer st.Close()
	runs, err := st.ListRuns(ctx, playbook.RunFilter{})
	require.NoError(t, err)
	n := 0
	for _, r := range runs {
		if r.State == playbook.RunDone || (r.State == playbook.RunWaiting && r.Approval != nil && r.Approval.Status == playbook.ApprovalPending) {
			n++
		}
	}
	return n
}
