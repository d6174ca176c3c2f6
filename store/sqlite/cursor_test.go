package sqlite_test

import (
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/cursor/cursortest"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

func TestCursorConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  sqlite.Options
	}{
		{"default", sqlite.Options{}},
		{"normal-durability-no-batching", sqlite.Options{Durability: sqlite.DurabilityNormal, MaxBatch: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cursortest.Run(t, func(t *testing.T) cursor.Store {
				s, _ := open(t, tc.opt)
				return s
			})
		})
	}
}

// schemaOf lists the schema objects of the file at path.
func schemaOf(t *testing.T, path string) []string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	rows, err := db.Query(`SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

func userVersion(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var v int
	require.NoError(t, db.QueryRow("PRAGMA user_version").Scan(&v))
	return v
}

// A file written by the version-1 schema, runs included, is upgraded in
// place by Open: its runs are kept and it gains the poller state table.
func TestOpenUpgradesVersion1(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// The reference: what migration 1 alone creates.
	ref := filepath.Join(dir, "reference-v1.db")
	sqlExec(t, ref, sqlite.Migrations[0])

	// A version-1 file with a run in it: written by this store, then
	// taken back to version 1 the way migrations 3 and 2 would be undone.
	path := filepath.Join(dir, "runs.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	seedRuns(t, s, 3)
	require.NoError(t, s.Close())
	sqlExec(t, path, "DROP TABLE used_tokens", "DROP TABLE cursors", "PRAGMA user_version = 1")
	require.Equal(t, schemaOf(t, ref), schemaOf(t, path), "the test file has exactly the version-1 schema")
	require.Equal(t, 1, userVersion(t, path))

	s, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err, "a version-1 file opens")
	t.Cleanup(func() { _ = s.Close() })
	assert.Equal(t, sqlite.SchemaVersion, userVersion(t, path), "the file is upgraded to the current version")
	assert.Contains(t, schemaOf(t, path), "table cursors: CREATE TABLE cursors (\n\t\tkey TEXT PRIMARY KEY,\n\t\tvalue TEXT NOT NULL\n\t) WITHOUT ROWID")
	runs, err := s.ListRuns(t.Context(), playbook.RunFilter{})
	require.NoError(t, err)
	assert.Len(t, runs, 3, "the version-1 runs are kept")
	_, ok, err := s.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, s.Put(t.Context(), "k", "v"))
	require.NoError(t, s.Close())

	// Opening again is a no-op for the schema, and keeps the state.
	s2 := openAt(t, path, sqlite.Options{})
	v, ok, err := s2.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v", v)
}

// Poller state survives closing and reopening the file, and a second
// handle on the file reads and writes it while the first holds the runner
// lock: a poller's Put never waits for the runner lock.
func TestCursorsBesideTheRunnerLock(t *testing.T) {
	t.Parallel()
	runner, path := open(t, sqlite.Options{})
	unlock, err := runner.Lock(t.Context(), "runner-1")
	require.NoError(t, err)
	t.Cleanup(func() { _ = unlock() })

	other := openAt(t, path, sqlite.Options{})
	_, err = other.Lock(t.Context(), "runner-2")
	require.ErrorIs(t, err, playbook.ErrStoreLocked, "the runner lock is held")
	for i := range 3 {
		require.NoError(t, other.Put(t.Context(), fmt.Sprint("poller-", i), fmt.Sprint("cursor-", i)))
	}
	require.NoError(t, runner.Put(t.Context(), "poller-0", "cursor-0b"))
	v, ok, err := other.Get(t.Context(), "poller-0")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "cursor-0b", v, "a Put through one handle is seen by the other")
	v, _, err = runner.Get(t.Context(), "poller-2")
	require.NoError(t, err)
	assert.Equal(t, "cursor-2", v)
}

func TestCursorsOnClosedStore(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "runs.db"), sqlite.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, _, err = s.Get(t.Context(), "k")
	assert.ErrorIs(t, err, sqlite.ErrClosed)
	assert.ErrorIs(t, s.Put(t.Context(), "k", "v"), sqlite.ErrClosed)
}
