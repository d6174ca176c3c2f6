package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/providers/fake"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

// maxWaitingRSS is the most resident memory a runner holding 100,000 runs
// that wait for approval may use.
const maxWaitingRSS = 200 << 20

// TestWaitingApprovalsAtScale puts 100,000 runs in the state of waiting for
// approval through a real runner on a SQLite file, then measures the
// file's size and the process's resident memory, which must stay under
// 200 MB: a waiting run lives in the file, not in a goroutine. It takes
// minutes, so it runs only when IAMPLAYBOOK_SCALE is set (to the number
// of runs; "1" means 100,000):
//
//	IAMPLAYBOOK_SCALE=1 go test -run TestWaitingApprovalsAtScale -v ./store/sqlite
func TestWaitingApprovalsAtScale(t *testing.T) {
	n := 100_000
	switch v := os.Getenv("IAMPLAYBOOK_SCALE"); v {
	case "":
		t.Skip("set IAMPLAYBOOK_SCALE=1 to run 100,000 waiting runs (takes minutes)")
	case "1":
	default:
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(t, err, "IAMPLAYBOOK_SCALE")
	}
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	defer s.Close()
	idp := fake.New(fake.WithoutCallLog())
	pb := playbook.Playbook{Name: "scale", Approver: quietApprover{}, ApprovalTimeout: 72 * time.Hour,
		Policy: playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondApprove, Rule: "ask", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}),
		Actions: idp.Actions(), Audit: []playbook.AuditSink{audit.Discard}}
	r, err := playbook.NewRunner(pb, playbook.Options{Store: s, Logger: discardLogger, Concurrency: 64})
	require.NoError(t, err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	<-r.Ready()

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				ev := playbooktest.BenchmarkEvent(i)
				if _, err := r.Handle(ctx, ev); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, r.WaitIdle(ctx))
	took := time.Since(start)

	pending, err := s.PendingApprovals(ctx, 10)
	require.NoError(t, err)
	require.Len(t, pending, min(10, n))
	runtime.GC()
	rss, peak := memStatus(t)
	wal := fileSize(path + "-wal")
	goroutines := runtime.NumGoroutine()
	cancel()
	require.NoError(t, <-done)
	require.NoError(t, s.Close()) // checkpoints the log into the file
	size := fileSize(path)
	t.Logf("%d runs waiting for approval in %v (%.0f runs/s)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
	t.Logf("store file %.1f MB after close (%d bytes/run; the write-ahead log peaked at %.1f MB when measured)",
		float64(size)/(1<<20), size/int64(n), float64(wal)/(1<<20))
	t.Logf("runner RSS %.1f MB with every run waiting (peak %.1f MB), %d goroutines",
		float64(rss)/(1<<20), float64(peak)/(1<<20), goroutines)
	require.Less(t, rss, int64(maxWaitingRSS), "resident memory with %d waiting runs", n)
	require.Less(t, peak, int64(maxWaitingRSS), "peak resident memory with %d waiting runs", n)
	require.Less(t, goroutines, 1000, "waiting runs hold no goroutine")
}

// memStatus returns the process's resident memory now and at its peak,
// from /proc/self/status.
func memStatus(t *testing.T) (rss, peak int64) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("resident memory is read from /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			_, err = fmt.Sscan(v, &kb)
			rss = kb << 10
		} else if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			_, err = fmt.Sscan(v, &kb)
			peak = kb << 10
		}
		require.NoError(t, err, line)
	}
	return rss, peak
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
