package audit_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// benchRecord is a typical action result: a few fields and a small Data map.
func benchRecord(i int64) audit.Record {
	return audit.Record{
		Time:           time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Type:           audit.TypeActionResult,
		RunID:          "run-0123456789",
		EventID:        "evt-0123456789",
		Subject:        "entra:8f1c2d3e-0000-4000-8000-000000000001",
		Actor:          "system",
		Step:           "step-2",
		Action:         "revoke_sessions",
		IdempotencyKey: "run-0123456789/step-2",
		Outcome:        "succeeded",
		Data: map[string]any{
			"attempt":     i,
			"status_code": 204,
			"request_id":  "req-abcdef",
			"latency_ms":  41.5,
		},
	}
}

func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkAuditJSONL(b *testing.B) {
	for _, mode := range []audit.SyncMode{audit.SyncGroup, audit.SyncEach, audit.SyncNone} {
		b.Run("sync="+mode.String(), func(b *testing.B) {
			j, err := audit.OpenJSONL(filepath.Join(b.TempDir(), "audit.jsonl"), audit.JSONLOptions{Sync: mode})
			if err != nil {
				b.Fatal(err)
			}
			var n atomic.Int64
			b.ReportAllocs()
			if mode == audit.SyncGroup {
				// Group commit serves closed-loop callers: about half of them
				// wait on the batch being synced while the rest fill the next
				// one, so throughput is about goroutines/2 records per fsync.
				b.SetParallelism(256)
			}
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := j.Record(b.Context(), benchRecord(n.Add(1))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if err := j.Close(); err != nil {
				b.Fatal(err)
			}
			reportRate(b)
		})
	}
}

// BenchmarkAuditBaselineAppend is the floor to compare with: json.Marshal
// and a buffered append, with no redaction, chain or fsync.
func BenchmarkAuditBaselineAppend(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "baseline.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		line, err := json.Marshal(benchRecord(int64(i)))
		if err != nil {
			b.Fatal(err)
		}
		w.Write(line)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	reportRate(b)
}

// BenchmarkAuditBaselineFsync is the disk's floor for SyncEach: one
// record-sized write and one fsync per record, with no encoding or chain.
// No per-record-durable log can beat it on the same disk.
func BenchmarkAuditBaselineFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	line, err := json.Marshal(benchRecord(1))
	if err != nil {
		b.Fatal(err)
	}
	line = append(line, '\n')
	for b.Loop() {
		if _, err := f.Write(line); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b)
}
