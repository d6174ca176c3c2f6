package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)

// seedRuns fills a store with n runs of one step each, so that its file
// spans many pages.
func seedRuns(t *testing.T, s *sqlite.Store, n int) {
	t.Helper()
	for i := range n {
		id := fmt.Sprintf("run-%04d", i)
		r := playbook.Run{ID: id, Subject: "fake:u", State: playbook.RunDone, CreatedAt: t0, UpdatedAt: t0,
			Event: playbook.Event{ID: "e" + id, Type: playbook.EventRiskySignIn, Raw: json.RawMessage(`{"pad":"` + strings.Repeat("x", 500) + `"}`)}}
		require.NoError(t, s.CreateRun(t.Context(), r))
		require.NoError(t, s.PutStep(t.Context(), playbook.StepRecord{RunID: id, StepID: "enrich", Kind: playbook.StepEnrich, Status: playbook.StepDone, StartedAt: t0}))
	}
}

// sqlExec runs statements on path with a plain connection, outside the
// store, to build files the store must refuse.
func sqlExec(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	for _, q := range stmts {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
}

func TestOpenRefusesBadFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		make    func(t *testing.T, path string)
		opt     sqlite.Options
		wantErr error  // nil: any error
		wantMsg string // a part of the message besides the path
	}{
		{
			name: "text file",
			make: func(t *testing.T, path string) {
				require.NoError(t, os.WriteFile(path, []byte("name,role\nalice,admin\n"), 0o600))
			},
			wantErr: sqlite.ErrNotDatabase, wantMsg: "does not start with the SQLite header",
		},
		{
			name:    "short foreign file",
			make:    func(t *testing.T, path string) { require.NoError(t, os.WriteFile(path, []byte("hi"), 0o600)) },
			wantErr: sqlite.ErrNotDatabase,
		},
		{
			name: "another application's SQLite database",
			make: func(t *testing.T, path string) {
				sqlExec(t, path, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)", "INSERT INTO invoices VALUES (1, 9.5)")
			},
			wantErr: sqlite.ErrNotDatabase, wantMsg: "another application",
		},
		{
			name:    "SQLite database with another application id",
			make:    func(t *testing.T, path string) { sqlExec(t, path, "PRAGMA application_id = 1234") },
			wantErr: sqlite.ErrNotDatabase, wantMsg: "0x4d2",
		},
		{
			name: "newer schema",
			make: func(t *testing.T, path string) {
				closeStore(t, path, 0)
				sqlExec(t, path, fmt.Sprintf("PRAGMA user_version = %d", sqlite.SchemaVersion+1))
			},
			wantErr: sqlite.ErrSchemaTooNew, wantMsg: fmt.Sprintf("schema version %d", sqlite.SchemaVersion+1),
		},
		{
			name: "truncated to half",
			make: func(t *testing.T, path string) {
				closeStore(t, path, 50)
				fi, err := os.Stat(path)
				require.NoError(t, err)
				require.NoError(t, os.Truncate(path, fi.Size()/2))
			},
			wantErr: sqlite.ErrCorrupt, wantMsg: "truncated",
		},
		{
			name: "truncated inside the header",
			make: func(t *testing.T, path string) {
				closeStore(t, path, 0)
				require.NoError(t, os.Truncate(path, 60))
			},
			wantErr: sqlite.ErrCorrupt, wantMsg: "inside the 100-byte header",
		},
		{
			name: "damaged pages",
			make: func(t *testing.T, path string) {
				closeStore(t, path, 50)
				b, err := os.ReadFile(path)
				require.NoError(t, err)
				// Overwrite every page after the first two with noise
				// that keeps no b-tree page type valid.
				for i := 2 * 4096; i < len(b); i++ {
					b[i] = byte(0xA5 ^ i)
				}
				require.NoError(t, os.WriteFile(path, b, 0o600))
			},
			opt:     sqlite.Options{Verify: true},
			wantErr: sqlite.ErrCorrupt,
		},
		{
			name:    "missing file with MustExist",
			make:    func(t *testing.T, path string) {},
			opt:     sqlite.Options{MustExist: true},
			wantErr: fs.ErrNotExist, wantMsg: "no such file",
		},
		{
			name:    "directory",
			make:    func(t *testing.T, path string) { require.NoError(t, os.Mkdir(path, 0o700)) },
			wantMsg: "is a directory",
		},
		{
			name:    "negative busy timeout",
			make:    func(t *testing.T, path string) {},
			opt:     sqlite.Options{BusyTimeout: -time.Second},
			wantMsg: "Options.BusyTimeout is negative",
		},
		{
			name:    "unknown durability",
			make:    func(t *testing.T, path string) {},
			opt:     sqlite.Options{Durability: 7},
			wantMsg: "Options.Durability",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "runs.db")
			tc.make(t, path)
			before, _ := os.ReadFile(path)
			s, err := sqlite.Open(t.Context(), path, tc.opt)
			if err == nil {
				s.Close()
				t.Fatalf("Open accepted the file")
			}
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
			}
			assert.Contains(t, err.Error(), path, "the error names the file")
			assert.Contains(t, err.Error(), tc.wantMsg)
			after, _ := os.ReadFile(path)
			assert.True(t, bytes.Equal(before, after), "a refused file is left as it was")
		})
	}
}

// closeStore creates a store at path with n runs and closes it.
func closeStore(t *testing.T, path string, n int) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	seedRuns(t, s, n)
	require.NoError(t, s.Close())
	_, err = os.Stat(path + "-wal")
	require.ErrorIs(t, err, fs.ErrNotExist, "closing the last connection checkpoints and removes the log")
}

func TestOpenBadPaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", "file:" + filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db?mode=ro"), filepath.Join(dir, "missing-dir", "runs.db")} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", path)
			}
			if path != "" {
				assert.Contains(t, err.Error(), path)
			}
		})
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	run := playbook.Run{ID: "run-1", Subject: "fake:alice", State: playbook.RunWaiting, CreatedAt: t0, UpdatedAt: t0, Ticket: "SEC-7",
		Event:    playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Raw: json.RawMessage(`{ "spaced" : true }`)},
		Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{ID: "apr-run-1", RunID: "run-1", Deadline: t0.Add(72 * time.Hour)}}}
	require.NoError(t, s.CreateRun(ctx, run))
	step := playbook.StepRecord{RunID: "run-1", StepID: "action-0", Kind: playbook.StepAction, Status: playbook.StepStarted, IdempotencyKey: "run-1/action-0", Attempt: 1, StartedAt: t0, Result: json.RawMessage(`{"a": 1}`)}
	require.NoError(t, s.PutStep(ctx, step))
	_, claimed, err := s.ClaimEvent(ctx, "okta:e1", "run-1", t0, t0.Add(24*time.Hour))
	require.NoError(t, err)
	require.True(t, claimed)
	seq, err := s.PostVerdict(ctx, playbook.Verdict{ApprovalID: "apr-run-1", Approver: "lead@example.com", Approve: true, Channel: "cli", At: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s = openAt(t, path, sqlite.Options{})
	got, err := s.GetRun(ctx, "run-1")
	require.NoError(t, err)
	assert.Equal(t, int64(1), got.Version)
	assert.Equal(t, `{ "spaced" : true }`, string(got.Event.Raw))
	assert.True(t, got.Approval.Request.Deadline.Equal(t0.Add(72*time.Hour)), "the approval's deadline survives")
	steps, err := s.Steps(ctx, "run-1")
	require.NoError(t, err)
	require.Len(t, steps, 1)
	assert.Equal(t, `{"a": 1}`, string(steps[0].Result))
	assert.Equal(t, playbook.StepStarted, steps[0].Status, "an interrupted step is still marked started")
	owner, claimed, err := s.ClaimEvent(ctx, "okta:e1", "run-2", t0.Add(time.Hour), t0.Add(25*time.Hour))
	require.NoError(t, err)
	assert.False(t, claimed, "the same event after a restart does not start a second run")
	assert.Equal(t, "run-1", owner)
	pending, err := s.PendingApprovals(ctx, 0)
	require.NoError(t, err)
	require.Len(t, pending, 1)
	items, err := s.InboxVerdicts(ctx, 0)
	require.NoError(t, err)
	require.Len(t, items, 1)
	assert.Equal(t, seq, items[0].Seq)
	assert.Equal(t, "lead@example.com", items[0].Verdict.Approver)
}

func TestClosedStore(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "runs.db"), sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, s.CreateRun(ctx, playbook.Run{ID: "r", CreatedAt: t0}))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")
	calls := map[string]error{
		"CreateRun": s.CreateRun(ctx, playbook.Run{ID: "r2"}),
		"PutStep":   s.PutStep(ctx, playbook.StepRecord{RunID: "r", StepID: "s"}),
	}
	_, calls["GetRun"] = s.GetRun(ctx, "r")
	_, calls["UpdateRun"] = s.UpdateRun(ctx, playbook.Run{ID: "r", Version: 1})
	_, calls["ListRuns"] = s.ListRuns(ctx, playbook.RunFilter{})
	_, calls["Steps"] = s.Steps(ctx, "r")
	_, _, calls["ClaimEvent"] = s.ClaimEvent(ctx, "k", "r", t0, t0.Add(time.Hour))
	_, calls["PendingApprovals"] = s.PendingApprovals(ctx, 0)
	_, calls["PostVerdict"] = s.PostVerdict(ctx, playbook.Verdict{ApprovalID: "a", At: t0})
	_, calls["InboxVerdicts"] = s.InboxVerdicts(ctx, 0)
	calls["RemoveVerdict"] = s.RemoveVerdict(ctx, 1)
	_, calls["Lock"] = s.Lock(ctx, "me")
	for name, err := range calls {
		assert.ErrorIs(t, err, sqlite.ErrClosed, name)
	}
}

func TestDoneContextWritesNothing(t *testing.T) {
	t.Parallel()
	s, _ := open(t, sqlite.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	require.ErrorIs(t, s.CreateRun(ctx, playbook.Run{ID: "r", CreatedAt: t0}), context.Canceled)
	_, err := s.GetRun(t.Context(), "r")
	require.ErrorIs(t, err, playbook.ErrRunNotFound, "a write refused for a done ctx stores nothing")
}

func TestTimesBeyondNanosecondRange(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, _ := open(t, sqlite.Options{})
	far := time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	early := time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
	for i, r := range []playbook.Run{
		{ID: "zero"},
		{ID: "far", CreatedAt: far, UpdatedAt: far, Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{Deadline: far}}},
		{ID: "early", CreatedAt: early, UpdatedAt: early, Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{Deadline: early}}},
	} {
		require.NoError(t, s.CreateRun(ctx, r), i)
		got, err := s.GetRun(ctx, r.ID)
		require.NoError(t, err)
		assert.True(t, got.CreatedAt.Equal(r.CreatedAt), "%s: CreatedAt %v, want %v", r.ID, got.CreatedAt, r.CreatedAt)
	}
	runs, err := s.ListRuns(ctx, playbook.RunFilter{})
	require.NoError(t, err)
	assert.Equal(t, []string{"zero", "early", "far"}, runIDs(runs), "clamped times keep their order")
	pending, err := s.PendingApprovals(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, []string{"early", "far"}, runIDs(pending))
	_, claimed, err := s.ClaimEvent(ctx, "k", "r", far, far.Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, claimed)
}

func runIDs(runs []playbook.Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

func TestOpenMarksTheFile(t *testing.T) {
	t.Parallel()
	_, path := open(t, sqlite.Options{})
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var appID, version int
	var mode string
	require.NoError(t, db.QueryRow("PRAGMA application_id").Scan(&appID))
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&version))
	require.NoError(t, db.QueryRow("PRAGMA journal_mode").Scan(&mode))
	assert.Equal(t, 0x69706c62, appID, "the file is marked as this store's")
	assert.Equal(t, sqlite.SchemaVersion, version, "the schema version is recorded")
	assert.Equal(t, "wal", mode)
}

// A new database holds the run journal: only its owner may read it, and
// SQLite's -wal and -shm files inherit that.
func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	s, path := open(t, sqlite.Options{})
	require.NoError(t, s.CreateRun(t.Context(), playbook.Run{ID: "r1", Subject: "fake:u1", State: playbook.RunPending,
		Event: playbook.Event{ID: "e1"}, CreatedAt: time.Unix(1, 0)}))
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		require.NoError(t, err, p)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "%s is private", filepath.Base(p))
	}
}

// TestDamageFoundLater damages a file's data pages and opens it without
// Verify: whether Open or the first read finds the damage, the error wraps
// ErrCorrupt and names the file.
func TestDamageFoundLater(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "runs.db")
	closeStore(t, path, 50)
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for i := 2 * 4096; i < len(b); i++ {
		b[i] = byte(0x5A ^ i)
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))

	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err == nil {
		defer s.Close()
		_, err = s.ListRuns(t.Context(), playbook.RunFilter{})
	}
	require.ErrorIs(t, err, sqlite.ErrCorrupt)
	assert.Contains(t, err.Error(), path)
}

// TestCloseDuringWrites closes a store while 16 goroutines write to it:
// every write either completes or fails with ErrClosed, none hangs, and
// what completed is in the file.
func TestCloseDuringWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	var mu sync.Mutex
	var stored []string
	var wg sync.WaitGroup
	started := make(chan struct{}, 16)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				id := fmt.Sprintf("w%02d-%04d", w, i)
				err := s.CreateRun(ctx, playbook.Run{ID: id, CreatedAt: t0})
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					assert.ErrorIs(t, err, sqlite.ErrClosed, id)
					return
				}
				mu.Lock()
				stored = append(stored, id)
				mu.Unlock()
			}
		})
	}
	for range 16 {
		<-started
	}
	require.NoError(t, s.Close())
	wg.Wait()

	s = openAt(t, path, sqlite.Options{})
	runs, err := s.ListRuns(ctx, playbook.RunFilter{})
	require.NoError(t, err)
	assert.ElementsMatch(t, stored, runIDs(runs), "exactly the writes that returned nil are stored")
}
