package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
)

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)

func testRecord(i int) audit.Record {
	return audit.Record{
		Time:    t0.Add(time.Duration(i) * time.Second),
		Type:    audit.TypeActionResult,
		RunID:   fmt.Sprintf("run-%d", i),
		Subject: "fake:user-1",
		Actor:   "system",
		Action:  "disable_user",
		Outcome: "succeeded",
		Data:    map[string]any{"note": fmt.Sprintf("n-%d", i), "attempt": i, "score": 0.5},
	}
}

// writeLog writes n records to an in-memory log and returns its lines
// (each with its trailing newline).
func writeLog(t *testing.T, n int, key []byte) []string {
	t.Helper()
	var buf bytes.Buffer
	j, err := audit.NewJSONL(&buf, audit.JSONLOptions{HMACKey: key})
	require.NoError(t, err)
	for i := 1; i <= n; i++ {
		require.NoError(t, j.Record(t.Context(), testRecord(i)))
	}
	require.NoError(t, j.Close())
	lines := strings.SplitAfter(buf.String(), "\n")
	return lines[:len(lines)-1]
}

func verifyString(s string, key []byte) (audit.VerifyReport, error) {
	return audit.Verify(strings.NewReader(s), audit.VerifyOptions{HMACKey: key})
}

func TestJSONLChainVerifies(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, []byte("anchor-key")} {
		var buf bytes.Buffer
		j, err := audit.NewJSONL(&buf, audit.JSONLOptions{HMACKey: key})
		require.NoError(t, err)
		for i := 1; i <= 20; i++ {
			require.NoError(t, j.Record(t.Context(), testRecord(i)))
		}
		seq, head := j.Head()
		require.NoError(t, j.Close())

		rep, err := verifyString(buf.String(), key)
		require.NoError(t, err, "verify")
		assert.Equal(t, uint64(20), rep.Records)
		assert.Equal(t, uint64(20), seq)
		assert.Equal(t, head, rep.LastHash)

		recs, err := audit.ReadJSONL(&buf)
		require.NoError(t, err)
		for i, r := range recs {
			assert.Equal(t, uint64(i+1), r.Seq, "seq")
			if i > 0 {
				assert.Equal(t, recs[i-1].Hash, r.Prev, "prev")
			} else {
				assert.Equal(t, "", r.Prev, "genesis prev")
			}
			assert.Equal(t, fmt.Sprintf("run-%d", i+1), r.RunID)
		}
	}
}

func TestVerifyDetectsEditAtThatLine(t *testing.T) {
	t.Parallel()
	const n = 6
	key := []byte("k")
	lines := writeLog(t, n, key)
	flipHex := func(c byte) string {
		if c == '0' {
			return "1"
		}
		return "0"
	}
	edits := []struct {
		name   string
		edit   func(i int, line string) string
		reason error
	}{
		{"type", func(i int, l string) string {
			return strings.Replace(l, `"type":"action.result"`, `"type":"action.intent"`, 1)
		}, audit.ErrHashMismatch},
		{"data value", func(i int, l string) string {
			return strings.Replace(l, fmt.Sprintf(`"note":"n-%d"`, i), fmt.Sprintf(`"note":"m-%d"`, i), 1)
		}, audit.ErrHashMismatch},
		{"data number", func(i int, l string) string {
			return strings.Replace(l, `"score":0.5`, `"score":0.50`, 1)
		}, audit.ErrHashMismatch},
		{"time", func(i int, l string) string { return strings.Replace(l, `"2026-`, `"2025-`, 1) }, audit.ErrHashMismatch},
		{"outcome", func(i int, l string) string {
			return strings.Replace(l, `"outcome":"succeeded"`, `"outcome":"failed"`, 1)
		}, audit.ErrHashMismatch},
		{"added field", func(i int, l string) string { return strings.Replace(l, `"actor"`, `"extra":1,"actor"`, 1) }, audit.ErrHashMismatch},
		{"removed field", func(i int, l string) string { return strings.Replace(l, `"actor":"system",`, ``, 1) }, audit.ErrHashMismatch},
		{"whitespace", func(i int, l string) string { return strings.Replace(l, `,"actor"`, `, "actor"`, 1) }, audit.ErrHashMismatch},
		{"seq", func(i int, l string) string {
			return strings.Replace(l, fmt.Sprintf(`{"seq":%d,`, i), fmt.Sprintf(`{"seq":%d,`, i+100), 1)
		}, audit.ErrSeqMismatch},
		{"prev", func(i int, l string) string {
			p := strings.Index(l, `"prev":"`) + len(`"prev":"`)
			if l[p] == '"' {
				return l[:p] + "0" + l[p:]
			}
			return l[:p] + flipHex(l[p]) + l[p+1:]
		}, audit.ErrPrevMismatch},
		{"hash", func(i int, l string) string {
			p := len(l) - len("0\"}\n")
			return l[:p] + flipHex(l[p]) + l[p+1:]
		}, audit.ErrHashMismatch},
		{"hash removed", func(i int, l string) string {
			p := strings.Index(l, `,"hash":`)
			return l[:p] + "}\n"
		}, audit.ErrMalformedLine},
		{"broken json", func(i int, l string) string { return strings.Replace(l, `"actor":`, `"actor"`, 1) }, audit.ErrMalformedLine},
	}
	for _, e := range edits {
		for i := 1; i <= n; i++ {
			t.Run(fmt.Sprintf("%s/line%d", e.name, i), func(t *testing.T) {
				t.Parallel()
				edited := append([]string(nil), lines...)
				edited[i-1] = e.edit(i, lines[i-1])
				if edited[i-1] == lines[i-1] {
					t.Fatalf("edit %q changed nothing", e.name)
				}
				rep, err := verifyString(strings.Join(edited, ""), key)
				assertBreak(t, err, i, e.reason)
				assert.Equal(t, uint64(i-1), rep.Records, "intact prefix")
			})
		}
	}
}

func assertBreak(t *testing.T, err error, line int, reason error) {
	t.Helper()
	var ve *audit.VerifyError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, line, ve.Line, "line of %v", err)
	require.ErrorIs(t, err, reason)
}

func TestVerifyDetectsStructuralDamage(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	lines := writeLog(t, 6, key)
	all := strings.Join(lines, "")
	without := func(k int) []string { // drop line k (1-based)
		out := append([]string(nil), lines[:k-1]...)
		return append(out, lines[k:]...)
	}
	swap := func(a, b int) []string {
		out := append([]string(nil), lines...)
		out[a-1], out[b-1] = out[b-1], out[a-1]
		return out
	}
	tests := []struct {
		name   string
		log    string
		key    []byte
		max    int
		line   int
		reason error
	}{
		{"deleted middle line", strings.Join(without(3), ""), key, 0, 3, audit.ErrSeqMismatch},
		{"deleted first line", strings.Join(without(1), ""), key, 0, 1, audit.ErrSeqMismatch},
		{"swapped lines", strings.Join(swap(3, 4), ""), key, 0, 3, audit.ErrSeqMismatch},
		{"duplicated line", strings.Join(append(lines[:3:3], lines[2:]...), ""), key, 0, 4, audit.ErrSeqMismatch},
		{"renumbered after deletion", renumber(without(2), 2), key, 0, 2, audit.ErrPrevMismatch},
		{"truncated last line", all[:len(all)-10], key, 0, 6, audit.ErrTruncated},
		{"missing final newline", all[:len(all)-1], key, 0, 6, audit.ErrTruncated},
		{"half a first line", lines[0][:20], key, 0, 1, audit.ErrTruncated},
		{"garbage line", strings.Join(lines[:2], "") + "not json\n" + strings.Join(lines[2:], ""), key, 0, 3, audit.ErrMalformedLine},
		{"empty line", strings.Join(lines[:2], "") + "\n" + strings.Join(lines[2:], ""), key, 0, 3, audit.ErrMalformedLine},
		{"wrong key", all, []byte("other"), 0, 1, audit.ErrHashMismatch},
		{"no key for keyed log", all, nil, 0, 1, audit.ErrHashMismatch},
		{"line over the limit", all, key, 100, 1, audit.ErrMalformedLine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := audit.Verify(strings.NewReader(tt.log), audit.VerifyOptions{HMACKey: tt.key, MaxLineBytes: tt.max})
			assertBreak(t, err, tt.line, tt.reason)
		})
	}
}

// renumber rewrites the seq of lines from index from (1-based) on, as an
// attacker who deleted a record without the key would.
func renumber(lines []string, from int) string {
	out := append([]string(nil), lines...)
	for i := from; i <= len(out); i++ {
		p := strings.Index(out[i-1], ",")
		out[i-1] = fmt.Sprintf(`{"seq":%d`, i) + out[i-1][p:]
	}
	return strings.Join(out, "")
}

func TestVerifyEmptyLog(t *testing.T) {
	t.Parallel()
	rep, err := verifyString("", nil)
	require.NoError(t, err)
	assert.Equal(t, audit.VerifyReport{}, rep)
}

func TestVerifyErrorMessage(t *testing.T) {
	t.Parallel()
	lines := writeLog(t, 3, nil)
	_, err := verifyString(lines[0]+lines[2], nil)
	assert.EqualError(t, err, "audit: line 2 (seq 3): seq out of order (record removed, duplicated or reordered): got seq 3, want 2")
}

func TestOpenJSONLContinuesChain(t *testing.T) {
	t.Parallel()
	for _, key := range [][]byte{nil, []byte("k")} {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		for round := range 3 {
			j, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: key})
			require.NoError(t, err, "open round %d", round)
			seq, _ := j.Head()
			assert.Equal(t, uint64(round*4), seq, "seq after reopen")
			for i := range 4 {
				require.NoError(t, j.Record(t.Context(), testRecord(round*4+i)))
			}
			require.NoError(t, j.Close())
		}
		recs := readVerified(t, path, key)
		assert.Len(t, recs, 12)

		j, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: key, VerifyOnOpen: true})
		require.NoError(t, err, "open with full verification")
		require.NoError(t, j.Close())
	}
}

func TestOpenJSONLRefusesCorruptTail(t *testing.T) {
	t.Parallel()
	key := []byte("k")
	lines := writeLog(t, 4, key)
	all := strings.Join(lines, "")
	tests := []struct {
		name   string
		data   string
		key    []byte
		verify bool
		reason error
	}{
		{"truncated last line", all[:len(all)-7], key, false, audit.ErrTruncated},
		{"missing final newline", all[:len(all)-1], key, false, audit.ErrTruncated},
		{"garbage appended", all + "garbage\n", key, false, audit.ErrMalformedLine},
		{"blank line appended", all + "\n", key, false, audit.ErrMalformedLine},
		{"edited last line", all[:len(all)-60] + "0" + all[len(all)-59:], key, false, audit.ErrHashMismatch},
		{"wrong key", all, []byte("other"), false, audit.ErrHashMismatch},
		{"edited middle line with VerifyOnOpen", strings.Replace(all, `"n-2"`, `"n-9"`, 1), key, true, audit.ErrHashMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tt.data), 0o600))
			j, err := audit.OpenJSONL(path, audit.JSONLOptions{HMACKey: tt.key, VerifyOnOpen: tt.verify})
			if err == nil {
				j.Close()
				t.Fatal("OpenJSONL accepted a corrupt log")
			}
			if !errors.Is(err, audit.ErrCorruptTail) || !errors.Is(err, tt.reason) {
				t.Fatalf("got %v, want ErrCorruptTail and %v", err, tt.reason)
			}
			after, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, tt.data, string(after), "file changed by a refused open")
		})
	}
}

func TestJSONLLongLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j, err := audit.OpenJSONL(path, audit.JSONLOptions{})
	require.NoError(t, err)
	r := testRecord(1)
	r.Data["blob"] = strings.Repeat("x", 50_000) // spans several tail chunks
	require.NoError(t, j.Record(t.Context(), testRecord(0)))
	require.NoError(t, j.Record(t.Context(), r))
	require.NoError(t, j.Close())
	j, err = audit.OpenJSONL(path, audit.JSONLOptions{})
	require.NoError(t, err)
	require.NoError(t, j.Record(t.Context(), testRecord(2)))
	require.NoError(t, j.Close())
	assert.Len(t, readVerified(t, path, nil), 3)
}

func TestJSONLClosed(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.SyncMode{audit.SyncGroup, audit.SyncEach, audit.SyncNone} {
		j, err := audit.OpenJSONL(filepath.Join(t.TempDir(), "a.jsonl"), audit.JSONLOptions{Sync: mode})
		require.NoError(t, err)
		require.NoError(t, j.Record(t.Context(), testRecord(1)))
		require.NoError(t, j.Close())
		if err := j.Record(t.Context(), testRecord(2)); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("%v: Record after Close: %v", mode, err)
		}
		if err := j.Flush(); !errors.Is(err, audit.ErrClosed) {
			t.Fatalf("%v: Flush after Close: %v", mode, err)
		}
		require.NoError(t, j.Close(), "second Close")
	}
}

func TestJSONLOptionsValidated(t *testing.T) {
	t.Parallel()
	for _, o := range []audit.JSONLOptions{
		{Sync: audit.SyncMode(7)},
		{HMACKey: []byte{}},
		{FileMode: os.ModeDir | 0o600},
	} {
		if _, err := audit.NewJSONL(&bytes.Buffer{}, o); err == nil {
			t.Errorf("NewJSONL accepted %+v", o)
		}
		if _, err := audit.OpenJSONL(filepath.Join(t.TempDir(), "x"), o); err == nil {
			t.Errorf("OpenJSONL accepted %+v", o)
		}
	}
}

// syncCounter is a writer whose Sync is slow and counted.
type syncCounter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	syncs  atomic.Int32
	delay  time.Duration
	fail   error
	block  chan struct{}
	writes atomic.Int32
}

func (s *syncCounter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes.Add(1)
	if s.fail != nil {
		return 0, s.fail
	}
	return s.buf.Write(p)
}

func (s *syncCounter) Sync() error {
	s.syncs.Add(1)
	if s.block != nil {
		<-s.block
	}
	time.Sleep(s.delay)
	return nil
}

func TestJSONLGroupCommitBatches(t *testing.T) {
	t.Parallel()
	w := &syncCounter{delay: time.Millisecond}
	j, err := audit.NewJSONL(w, audit.JSONLOptions{Sync: audit.SyncGroup})
	require.NoError(t, err)
	const writers, per = 32, 20
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range per {
				if err := j.Record(t.Context(), testRecord(g*per+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, j.Close())
	if s := w.syncs.Load(); s >= writers*per/2 {
		t.Errorf("%d fsyncs for %d records: group commit did not batch", s, writers*per)
	}
	rep, err := verifyString(w.buf.String(), nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(writers*per), rep.Records)
}

func TestJSONLSyncEachSyncsEveryRecord(t *testing.T) {
	t.Parallel()
	w := &syncCounter{}
	j, err := audit.NewJSONL(w, audit.JSONLOptions{Sync: audit.SyncEach})
	require.NoError(t, err)
	for i := range 10 {
		require.NoError(t, j.Record(t.Context(), testRecord(i)))
	}
	assert.Equal(t, int32(10), w.syncs.Load())
	require.NoError(t, j.Close())
}

func TestJSONLWriteFailureIsSticky(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.SyncMode{audit.SyncGroup, audit.SyncEach, audit.SyncNone} {
		boom := errors.New("disk gone")
		w := &syncCounter{fail: boom}
		j, err := audit.NewJSONL(w, audit.JSONLOptions{Sync: mode})
		require.NoError(t, err)
		err = j.Record(t.Context(), testRecord(1))
		if mode == audit.SyncNone {
			require.NoError(t, err, "buffered record")
			err = j.Flush()
		}
		if !errors.Is(err, boom) {
			t.Fatalf("%v: first failure: %v", mode, err)
		}
		if err := j.Record(t.Context(), testRecord(2)); !errors.Is(err, boom) {
			t.Fatalf("%v: later Record: %v", mode, err)
		}
		if err := j.Close(); !errors.Is(err, boom) {
			t.Fatalf("%v: Close: %v", mode, err)
		}
	}
}

func TestJSONLUnencodableRecordWritesNothing(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	j, err := audit.NewJSONL(&buf, audit.JSONLOptions{})
	require.NoError(t, err)
	require.NoError(t, j.Record(t.Context(), testRecord(1)))
	bad := testRecord(2)
	bad.Data["fn"] = func() {}
	if err := j.Record(t.Context(), bad); err == nil {
		t.Fatal("Record accepted an unencodable value")
	}
	require.NoError(t, j.Record(t.Context(), testRecord(3)))
	require.NoError(t, j.Close())
	rep, err := verifyString(buf.String(), nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), rep.Records)
}

func TestJSONLGroupWaitHonoursContext(t *testing.T) {
	t.Parallel()
	w := &syncCounter{block: make(chan struct{})}
	j, err := audit.NewJSONL(w, audit.JSONLOptions{})
	require.NoError(t, err)
	leaderDone := make(chan error, 1)
	go func() { leaderDone <- j.Record(t.Context(), testRecord(1)) }()
	for w.syncs.Load() == 0 { // the leader is inside Sync
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	followerDone := make(chan error, 1)
	go func() { followerDone <- j.Record(ctx, testRecord(2)) }()
	time.Sleep(5 * time.Millisecond)
	cancel()
	if err := <-followerDone; !errors.Is(err, context.Canceled) {
		t.Fatalf("follower: %v", err)
	}
	close(w.block)
	require.NoError(t, <-leaderDone, "leader")
	require.NoError(t, j.Close())
	rep, err := verifyString(w.buf.String(), nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(2), rep.Records, "the abandoned record is still written whole")
}

func TestJSONLSecretsNeverReachFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	j, err := audit.OpenJSONL(path, audit.JSONLOptions{})
	require.NoError(t, err)
	r := testRecord(1)
	r.Data["client_secret"] = "very-secret-value"
	r.Data["request"] = map[string]any{"headers": map[string]string{"Authorization": "SSWS 00okta-token"}}
	r.Error = "401 for Bearer leaked-bearer"
	require.NoError(t, j.Record(t.Context(), r))
	require.NoError(t, j.Close())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, s := range []string{"very-secret-value", "00okta-token", "leaked-bearer"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("file contains %q", s)
		}
	}
}

func TestOpenJSONLLocksOutASecondWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	first, err := audit.OpenJSONL(path, audit.JSONLOptions{})
	require.NoError(t, err)
	_, err = audit.OpenJSONL(path, audit.JSONLOptions{})
	require.ErrorIs(t, err, audit.ErrLocked, "two writers would fork the chain")
	require.NoError(t, first.Record(t.Context(), testRecord(1)))
	require.NoError(t, first.Close())

	second, err := audit.OpenJSONL(path, audit.JSONLOptions{})
	require.NoError(t, err, "the lock goes with Close")
	require.NoError(t, second.Record(t.Context(), testRecord(2)))
	require.NoError(t, second.Close())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err)
	assert.EqualValues(t, 2, rep.Records)
}

func TestVerifyExpectHead(t *testing.T) {
	t.Parallel()
	lines := writeLog(t, 5, nil)
	full := strings.Join(lines, "")
	rep, err := verifyString(full, nil)
	require.NoError(t, err)
	anchored := rep.LastHash

	tests := []struct {
		name string
		log  string
		head string
		want error
	}{
		{name: "the anchored head is the last record", log: full, head: anchored},
		{name: "records appended after the anchor", log: full, head: hashOf(t, lines[2])},
		{name: "records removed from the end", log: strings.Join(lines[:3], ""), head: anchored, want: audit.ErrHeadMissing},
		{name: "log emptied", log: "", head: anchored, want: audit.ErrHeadMissing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := audit.Verify(strings.NewReader(tt.log), audit.VerifyOptions{ExpectHead: tt.head})
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func hashOf(t *testing.T, line string) string {
	t.Helper()
	var v struct {
		Hash string `json:"hash"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &v))
	return v.Hash
}
