package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve/web"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
)

var _ web.UsedTokens = (*sqlite.Tokens)(nil)

// tokenOp is one call on a web.UsedTokens and what it must answer.
type tokenOp struct {
	op      string // "claim", "used" or "release"
	key     string
	until   time.Duration // claim: until = now + until
	want    bool          // claim, used
	wantErr bool
}

// checkTokens runs ops in order on u, a new, empty set.
func checkTokens(t *testing.T, u web.UsedTokens, ops []tokenOp) {
	t.Helper()
	ctx := t.Context()
	for i, o := range ops {
		var got bool
		var err error
		switch o.op {
		case "claim":
			got, err = u.Claim(ctx, o.key, time.Now().Add(o.until))
		case "used":
			got, err = u.Used(ctx, o.key)
		case "release":
			err = u.Release(ctx, o.key)
		default:
			t.Fatalf("op %d: unknown op %q", i, o.op)
		}
		if o.wantErr {
			require.Error(t, err, "op %d: %s %q", i, o.op, o.key)
			continue
		}
		require.NoError(t, err, "op %d: %s %q", i, o.op, o.key)
		if o.op != "release" {
			assert.Equal(t, o.want, got, "op %d: %s %q", i, o.op, o.key)
		}
	}
}

// The durable set answers like web.MemoryTokens, and also hands a claim
// whose link expired to the next claimant.
func TestTokensSemantics(t *testing.T) {
	t.Parallel()
	const hour = time.Hour
	cases := []struct {
		name       string
		sqliteOnly bool // MemoryTokens keeps expired claims until it prunes
		ops        []tokenOp
	}{
		{name: "claim-then-used", ops: []tokenOp{
			{op: "used", key: "a"},
			{op: "claim", key: "a", until: hour, want: true},
			{op: "used", key: "a", want: true},
			{op: "used", key: "b"},
		}},
		{name: "second-claim-refused", ops: []tokenOp{
			{op: "claim", key: "a", until: hour, want: true},
			{op: "claim", key: "a", until: 2 * hour},
			{op: "claim", key: "b", until: hour, want: true},
			{op: "used", key: "a", want: true},
		}},
		{name: "release-frees-the-key", ops: []tokenOp{
			{op: "claim", key: "a", until: hour, want: true},
			{op: "claim", key: "b", until: hour, want: true},
			{op: "release", key: "a"},
			{op: "used", key: "a"},
			{op: "used", key: "b", want: true},
			{op: "claim", key: "a", until: hour, want: true},
			{op: "used", key: "a", want: true},
		}},
		{name: "release-of-unclaimed-key", ops: []tokenOp{
			{op: "release", key: "nobody"},
			{op: "used", key: "nobody"},
		}},
		{name: "expired-claim-is-taken-over", sqliteOnly: true, ops: []tokenOp{
			{op: "claim", key: "a", until: -hour, want: true},
			{op: "used", key: "a"},
			{op: "claim", key: "a", until: hour, want: true},
			{op: "used", key: "a", want: true},
			{op: "claim", key: "a", until: hour},
		}},
		{name: "empty-key", sqliteOnly: true, ops: []tokenOp{
			{op: "claim", key: "", until: hour, wantErr: true},
			{op: "used", key: ""},
		}},
	}
	impls := []struct {
		name   string
		sqlite bool
		new    func(t *testing.T) web.UsedTokens
	}{
		{"memory", false, func(*testing.T) web.UsedTokens { return web.NewMemoryTokens() }},
		{"sqlite", true, func(t *testing.T) web.UsedTokens {
			s, _ := open(t, sqlite.Options{})
			return s.UsedTokens()
		}},
		{"sqlite-normal-no-batching", true, func(t *testing.T) web.UsedTokens {
			s, _ := open(t, sqlite.Options{Durability: sqlite.DurabilityNormal, MaxBatch: 1})
			return s.UsedTokens()
		}},
	}
	for _, im := range impls {
		for _, tc := range cases {
			if tc.sqliteOnly && !im.sqlite {
				continue
			}
			t.Run(im.name+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				checkTokens(t, im.new(t), tc.ops)
			})
		}
	}
}

// A claim is in the file: it holds after Close and Open, and a release
// does too.
func TestTokensSurviveReopen(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "runs.db")
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	require.NoError(t, err)
	for _, k := range []string{"kept", "released"} {
		ok, err := s.UsedTokens().Claim(ctx, k, time.Now().Add(time.Hour))
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.NoError(t, s.UsedTokens().Release(ctx, "released"))
	require.NoError(t, s.Close())

	u := openAt(t, path, sqlite.Options{}).UsedTokens()
	checkTokens(t, u, []tokenOp{
		{op: "used", key: "kept", want: true},
		{op: "claim", key: "kept", until: time.Hour},
		{op: "used", key: "released"},
		{op: "claim", key: "released", until: time.Hour, want: true},
	})
}

// Two handles on one file (as two processes would have) race to claim the
// same keys: each key is won exactly once.
func TestTokensRaceAcrossHandles(t *testing.T) {
	t.Parallel()
	a, path := open(t, sqlite.Options{})
	b := openAt(t, path, sqlite.Options{Durability: sqlite.DurabilityNormal})
	handles := []*sqlite.Tokens{a.UsedTokens(), b.UsedTokens()}
	const keys, perHandle = 8, 12
	wins := make([]atomic.Int32, keys)
	until := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, keys*perHandle*len(handles))
	for _, h := range handles {
		for range perHandle {
			wg.Go(func() {
				for k := range keys {
					ok, err := h.Claim(t.Context(), fmt.Sprint("link-", k), until)
					if err != nil {
						errs <- err
						return
					}
					if ok {
						wins[k].Add(1)
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for k := range keys {
		assert.Equal(t, int32(1), wins[k].Load(), "key link-%d is won exactly once", k)
		for _, h := range handles {
			used, err := h.Used(t.Context(), fmt.Sprint("link-", k))
			require.NoError(t, err)
			assert.True(t, used, "both handles see link-%d used", k)
		}
	}
}

// Claims of links long expired do not pile up: every 64th claim deletes
// them.
func TestTokensPruneExpired(t *testing.T) {
	t.Parallel()
	s, path := open(t, sqlite.Options{})
	u := s.UsedTokens()
	for i := range 63 {
		ok, err := u.Claim(t.Context(), fmt.Sprint("old-", i), time.Now().Add(-time.Minute))
		require.NoError(t, err)
		require.True(t, ok)
	}
	require.Equal(t, 63, countTokens(t, path), "no prune before the 64th claim")
	ok, err := u.Claim(t.Context(), "fresh", time.Now().Add(time.Hour))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, 1, countTokens(t, path), "the 64th claim deleted the expired ones and kept its own")
	used, err := u.Used(t.Context(), "fresh")
	require.NoError(t, err)
	assert.True(t, used)
}

func countTokens(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM used_tokens").Scan(&n))
	return n
}

func TestTokensClosedStoreAndDoneContext(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "runs.db"), sqlite.Options{})
	require.NoError(t, err)
	u := s.UsedTokens()

	done, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = u.Claim(done, "k", time.Now().Add(time.Hour))
	require.ErrorIs(t, err, context.Canceled)
	_, err = u.Used(done, "k")
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, u.Release(done, "k"), context.Canceled)
	used, err := u.Used(t.Context(), "k")
	require.NoError(t, err)
	assert.False(t, used, "a claim with a done context records nothing")

	require.NoError(t, s.Close())
	_, err = u.Claim(t.Context(), "k", time.Now().Add(time.Hour))
	assert.ErrorIs(t, err, sqlite.ErrClosed, "Claim")
	_, err = u.Used(t.Context(), "k")
	assert.ErrorIs(t, err, sqlite.ErrClosed, "Used")
	assert.ErrorIs(t, u.Release(t.Context(), "k"), sqlite.ErrClosed, "Release")
}

// A file written by the version-2 schema, runs and poller state included,
// is upgraded in place by Open: everything is kept and it gains the used
// link table.
func TestOpenUpgradesVersion2(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// The reference: what migrations 1 and 2 alone create.
	ref := filepath.Join(dir, "reference-v2.db")
	sqlExec(t, ref, sqlite.Migrations[0], sqlite.Migrations[1])

	// A version-2 file with runs and a cursor in it: written by this
	// store, then taken back to version 2 the way migration 3 would be
	// undone.
	path := filepath.Join(dir, "runs.db")
	s, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err)
	seedRuns(t, s, 3)
	require.NoError(t, s.Put(t.Context(), "cursor", "v"))
	require.NoError(t, s.Close())
	sqlExec(t, path, "DROP TABLE used_tokens", "PRAGMA user_version = 2")
	require.Equal(t, schemaOf(t, ref), schemaOf(t, path), "the test file has exactly the version-2 schema")
	require.Equal(t, 2, userVersion(t, path))

	s, err = sqlite.Open(t.Context(), path, sqlite.Options{})
	require.NoError(t, err, "a version-2 file opens")
	t.Cleanup(func() { _ = s.Close() })
	assert.Equal(t, sqlite.SchemaVersion, userVersion(t, path), "the file is upgraded to the current version")
	assert.Contains(t, schemaOf(t, path), "table used_tokens: CREATE TABLE used_tokens (\n\t\tkey TEXT PRIMARY KEY,\n\t\tuntil_ns INTEGER NOT NULL\n\t) WITHOUT ROWID")
	assert.Contains(t, schemaOf(t, path), "index used_tokens_until: CREATE INDEX used_tokens_until ON used_tokens (until_ns)")
	runs, err := s.ListRuns(t.Context(), playbook.RunFilter{})
	require.NoError(t, err)
	assert.Len(t, runs, 3, "the version-2 runs are kept")
	v, ok, err := s.Get(t.Context(), "cursor")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v", v, "the version-2 poller state is kept")
	ok, err = s.UsedTokens().Claim(t.Context(), "link", time.Now().Add(time.Hour))
	require.NoError(t, err)
	assert.True(t, ok)
	require.NoError(t, s.Close())

	// Opening again is a no-op for the schema, and keeps the claim.
	used, err := openAt(t, path, sqlite.Options{}).UsedTokens().Used(t.Context(), "link")
	require.NoError(t, err)
	assert.True(t, used)
}
