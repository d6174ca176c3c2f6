package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/audit/audittest"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	audittest.TestSink(t, func(t *testing.T) (audit.Sink, func() []audit.Record) {
		m := audit.NewMemory()
		return m, m.Records
	})
}

func TestMultiConformance(t *testing.T) {
	t.Parallel()
	audittest.TestSink(t, func(t *testing.T) (audit.Sink, func() []audit.Record) {
		a, b := audit.NewMemory(), audit.NewMemory()
		return audit.Multi(a, b), func() []audit.Record {
			ra, rb := a.Records(), b.Records()
			if len(ra) != len(rb) {
				t.Fatalf("sinks of Multi diverge: %d and %d records", len(ra), len(rb))
			}
			return ra
		}
	})
}

func TestJSONLConformance(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.SyncMode{audit.SyncGroup, audit.SyncEach, audit.SyncNone} {
		for _, key := range [][]byte{nil, []byte("k")} {
			name := "sync=" + mode.String()
			if key != nil {
				name += "/hmac"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				audittest.TestSink(t, func(t *testing.T) (audit.Sink, func() []audit.Record) {
					path := filepath.Join(t.TempDir(), "audit.jsonl")
					j, err := audit.OpenJSONL(path, audit.JSONLOptions{Sync: mode, HMACKey: key})
					require.NoError(t, err, "open")
					t.Cleanup(func() { require.NoError(t, j.Close(), "close") })
					return j, func() []audit.Record {
						require.NoError(t, j.Flush(), "flush")
						return readVerified(t, path, key)
					}
				})
			})
		}
	}
}

// readVerified verifies the log at path and returns its records.
func readVerified(t *testing.T, path string, key []byte) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err, "open for reading")
	defer f.Close()
	rep, err := audit.Verify(f, audit.VerifyOptions{HMACKey: key})
	require.NoError(t, err, "verify")
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	recs, err := audit.ReadJSONL(f)
	require.NoError(t, err, "read")
	assert.Equal(t, uint64(len(recs)), rep.Records, "verified record count")
	return recs
}

func TestMultiJoinsErrorsAndOffersToAll(t *testing.T) {
	t.Parallel()
	errA, errB := errors.New("disk full"), errors.New("network down")
	first, last := audit.NewMemory(), audit.NewMemory()
	var calls atomic.Int32
	counting := audit.SinkFunc(func(context.Context, audit.Record) error { calls.Add(1); return nil })
	m := audit.Multi(first, audit.Failing(errA), counting, nil, audit.Failing(errB), last)

	err := m.Record(t.Context(), audit.Record{Type: audit.TypeDecision})

	if !errors.Is(err, errA) || !errors.Is(err, errB) {
		t.Fatalf("error %v does not wrap both failures", err)
	}
	var se *audit.SinkError
	if !errors.As(err, &se) || se.Index != 1 {
		t.Fatalf("first SinkError = %+v, want index 1", se)
	}
	assert.EqualError(t, err, "audit: sink 1: disk full\naudit: sink 4: network down")
	assert.Equal(t, 1, first.Len(), "first sink")
	assert.Equal(t, 1, last.Len(), "sink after the failures")
	assert.Equal(t, int32(1), calls.Load(), "sink between the failures")
}

func TestMultiNoSinks(t *testing.T) {
	t.Parallel()
	require.NoError(t, audit.Multi().Record(t.Context(), audit.Record{}))
}

func TestFailingAndDiscard(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	assert.Equal(t, boom, audit.Failing(boom).Record(t.Context(), audit.Record{}))
	if err := audit.Failing(nil).Record(t.Context(), audit.Record{}); !errors.Is(err, audit.ErrSinkFailed) {
		t.Fatalf("Failing(nil) returned %v", err)
	}
	require.NoError(t, audit.Discard.Record(t.Context(), audit.Record{}))
}

func TestMemoryFilterAndLen(t *testing.T) {
	t.Parallel()
	m := audit.NewMemory()
	for _, typ := range []audit.Type{audit.TypeEventReceived, audit.TypeDecision, audit.TypeRunResolved, audit.TypeDecision} {
		require.NoError(t, m.Record(t.Context(), audit.Record{Type: typ}))
	}
	assert.Equal(t, 4, m.Len())
	got := m.Filter(func(r audit.Record) bool { return r.Type == audit.TypeDecision })
	assert.Len(t, got, 2)

	recs := m.Records()
	recs[0].Type = "changed"
	assert.Equal(t, audit.TypeEventReceived, m.Records()[0].Type, "Records returns a copy")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Record(ctx, audit.Record{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Record with cancelled ctx: %v", err)
	}
	assert.Equal(t, 4, m.Len())
}
