package sqlite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// TestHelperProcess is the child process of the tests below; it does
// nothing in a normal test run. SQLITE_HELPER names what it does with the
// store at SQLITE_HELPER_PATH:
//
//	lock   takes the runner lock, prints "locked" and waits to be killed
//	write  writes runs forever, printing the id of each one committed
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv("SQLITE_HELPER")
	if mode == "" {
		t.Skip("runs only as a child of the process tests")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, os.Getenv("SQLITE_HELPER_PATH"), sqlite.Options{})
	if err != nil {
		fmt.Println("open failed:", err)
		os.Exit(2)
	}
	switch mode {
	case "lock":
		if _, err := s.Lock(ctx, fmt.Sprintf("helper pid %d", os.Getpid())); err != nil {
			fmt.Println("lock failed:", err)
			os.Exit(2)
		}
		fmt.Println("locked")
		_, _ = io.Copy(io.Discard, os.Stdin) // until killed
		os.Exit(0)
	case "write":
		prefix := os.Getenv("SQLITE_HELPER_PREFIX")
		// Several writers at once, so that kills land inside batches.
		errs := make(chan error)
		for w := range 8 {
			go func() {
				for i := 0; ; i++ {
					id := fmt.Sprintf("%s-w%d-%05d", prefix, w, i)
					if err := writeRun(ctx, s, id); err != nil {
						errs <- err
						return
					}
					fmt.Println("committed", id)
				}
			}()
		}
		fmt.Println("failed:", <-errs)
		os.Exit(2)
	}
	os.Exit(3)
}

// writeRun stores a run through the life a runner gives it: created,
// journaled, updated, claimed.
func writeRun(ctx context.Context, s *sqlite.Store, id string) error {
	now := time.Now()
	r := playbook.Run{ID: id, Subject: "fake:" + id, State: playbook.RunPending, CreatedAt: now, UpdatedAt: now,
		Event: playbook.Event{ID: "e-" + id, Type: playbook.EventRiskySignIn, Raw: []byte(`{"id":"` + id + `"}`)}}
	if _, _, err := s.ClaimEvent(ctx, "e-"+id, id, now, now.Add(time.Hour)); err != nil {
		return err
	}
	if err := s.CreateRun(ctx, r); err != nil {
		return err
	}
	for _, step := range []string{"enrich", "decide", "action-0"} {
		if err := s.PutStep(ctx, playbook.StepRecord{RunID: id, StepID: step, Status: playbook.StepDone, StartedAt: now, Result: []byte(`{"ok":true}`)}); err != nil {
			return err
		}
	}
	r.Version = 1
	r.State = playbook.RunDone
	r.Outcome = playbook.OutcomeContained
	_, err := s.UpdateRun(ctx, r)
	return err
}

// helper starts the test binary as a helper child and returns it with its
// standard output.
func helper(t *testing.T, mode, path string, env ...string) (*exec.Cmd, *bufio.Scanner, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), append(env, "SQLITE_HELPER="+mode, "SQLITE_HELPER_PATH="+path)...)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, bufio.NewScanner(out), in
}

// kill sends SIGKILL to cmd and waits until it is gone.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	err := cmd.Wait()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the child ended by the kill, not on its own: %v", err)
}

func TestLockAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, path := open(t, sqlite.Options{})
	require.NoError(t, s.CreateRun(ctx, playbook.Run{ID: "run-1", State: playbook.RunWaiting, CreatedAt: t0,
		Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{ID: "apr-run-1", Deadline: t0.Add(time.Hour)}}}))

	cmd, out, _ := helper(t, "lock", path)
	require.True(t, out.Scan(), "the child reports")
	require.Equal(t, "locked", out.Text())

	_, err := s.Lock(ctx, "second runner")
	require.ErrorIs(t, err, playbook.ErrStoreLocked, "a second runner fails fast")
	assert.Contains(t, err.Error(), fmt.Sprintf("helper pid %d", cmd.Process.Pid), "the error names the holder")
	assert.Contains(t, err.Error(), sqlite.LockPath(path))

	// Readers and verdict posters need no lock.
	pending, err := s.PendingApprovals(ctx, 0)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	_, err = s.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-1", Approver: "lead", Channel: "cli", At: t0})
	require.NoError(t, err)

	kill(t, cmd)
	unlock, err := s.Lock(ctx, "successor")
	require.NoError(t, err, "a runner killed with SIGKILL does not block its successor")
	require.NoError(t, unlock())
}

func TestTwoStoresOneFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	runner, path := open(t, sqlite.Options{})
	cli := openAt(t, path, sqlite.Options{MustExist: true})

	unlock, err := runner.Lock(ctx, "runner on host-1 pid 42")
	require.NoError(t, err)
	_, err = cli.Lock(ctx, "another runner")
	require.ErrorIs(t, err, playbook.ErrStoreLocked)
	assert.Contains(t, err.Error(), "runner on host-1 pid 42")

	run := playbook.Run{ID: "run-1", Subject: "fake:alice", State: playbook.RunWaiting, CreatedAt: t0,
		Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{ID: "apr-run-1", RunID: "run-1", Deadline: t0.Add(time.Hour)}}}
	require.NoError(t, runner.CreateRun(ctx, run))

	// The CLI sees the runner's writes and posts a verdict the runner reads.
	pending, err := cli.PendingApprovals(ctx, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"run-1"}, runIDs(pending))
	seq, err := cli.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-1", Approver: "lead@example.com", Approve: true, Channel: "cli", At: t0.Add(time.Minute)})
	require.NoError(t, err)
	items, err := runner.InboxVerdicts(ctx, 0)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, seq, items[0].Seq)
	require.NoError(t, runner.RemoveVerdict(ctx, seq))
	items, err = cli.InboxVerdicts(ctx, 0)
	require.NoError(t, err)
	assert.Empty(t, items)

	// Compare-and-swap holds across the two: one of two updates from the
	// same version wins.
	a, err := runner.GetRun(ctx, "run-1")
	require.NoError(t, err)
	b := a.Clone()
	a.State, b.State = playbook.RunRunning, playbook.RunDone
	_, errA := runner.UpdateRun(ctx, a)
	_, errB := cli.UpdateRun(ctx, b)
	require.NoError(t, errA)
	require.ErrorIs(t, errB, playbook.ErrVersionConflict)

	// So does the event claim.
	_, claimed, err := runner.ClaimEvent(ctx, "evt", "run-1", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, claimed)
	owner, claimed, err := cli.ClaimEvent(ctx, "evt", "run-2", t0, t0.Add(time.Hour))
	require.NoError(t, err)
	assert.False(t, claimed)
	assert.Equal(t, "run-1", owner)

	require.NoError(t, unlock())
	unlock, err = cli.Lock(ctx, "new runner")
	require.NoError(t, err)
	require.NoError(t, unlock())
}

// TestKillDuringWrites kills a process writing runs with SIGKILL at
// random moments, 10 times, and checks after each kill that the file opens,
// passes SQLite's integrity check, and holds every run the child reported
// committed, complete.
func TestKillDuringWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runs.db")
	rng := rand.New(rand.NewPCG(3, 1))
	var committed []string
	for round := range 10 {
		cmd, out, _ := helper(t, "write", path, fmt.Sprintf("SQLITE_HELPER_PREFIX=r%02d", round))
		// Kill after a random number of runs of this round committed.
		want := len(committed) + 1 + rng.IntN(150)
		for len(committed) < want && out.Scan() {
			line := out.Text()
			id, ok := strings.CutPrefix(line, "committed ")
			require.True(t, ok, "child: %s", line)
			committed = append(committed, id)
		}
		kill(t, cmd)
		for out.Scan() { // lines written before the kill
			if id, ok := strings.CutPrefix(out.Text(), "committed "); ok {
				committed = append(committed, id)
			}
		}

		s, err := sqlite.Open(ctx, path, sqlite.Options{Verify: true})
		require.NoError(t, err, "round %d: the file opens after SIGKILL", round)
		for _, id := range committed {
			r, err := s.GetRun(ctx, id)
			require.NoError(t, err, "round %d: run %s was reported committed", round, id)
			require.Equal(t, playbook.RunDone, r.State, id)
			steps, err := s.Steps(ctx, id)
			require.NoError(t, err)
			require.Len(t, steps, 3, id)
		}
		require.NoError(t, s.Close())
	}
	t.Logf("%d runs committed across 10 kills", len(committed))
}
