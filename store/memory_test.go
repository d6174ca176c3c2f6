package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
	"github.com/iamplaybook/iamplaybook/store/storetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryConformance(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		new  func() *store.Memory
	}{
		{"NewMemory", store.NewMemory},
		{"zero value", func() *store.Memory { return new(store.Memory) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) playbook.Store { return tc.new() })
		})
	}
}

var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

func newRun(id string) playbook.Run {
	return playbook.Run{ID: id, Subject: "fake:u1", State: playbook.RunPending, CreatedAt: t0}
}

func TestMemoryRejectsBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		call    func(ctx context.Context, m *store.Memory) error
		wantIs  error
		wantMsg string
	}{
		{"CreateRun without id", func(ctx context.Context, m *store.Memory) error {
			return m.CreateRun(ctx, playbook.Run{})
		}, nil, "run id is empty"},
		{"UpdateRun without id", func(ctx context.Context, m *store.Memory) error {
			_, err := m.UpdateRun(ctx, playbook.Run{Version: 1})
			return err
		}, nil, "run id is empty"},
		{"ListRuns with negative limit", func(ctx context.Context, m *store.Memory) error {
			_, err := m.ListRuns(ctx, playbook.RunFilter{Limit: -1})
			return err
		}, nil, "limit -1 is negative"},
		{"PutStep without run id", func(ctx context.Context, m *store.Memory) error {
			return m.PutStep(ctx, playbook.StepRecord{StepID: "s1"})
		}, nil, "run id is empty"},
		{"PutStep without step id", func(ctx context.Context, m *store.Memory) error {
			return m.PutStep(ctx, playbook.StepRecord{RunID: "run-1"})
		}, nil, "step id is empty"},
		{"PutStep of a run never created", func(ctx context.Context, m *store.Memory) error {
			return m.PutStep(ctx, playbook.StepRecord{RunID: "run-missing", StepID: "s1"})
		}, playbook.ErrRunNotFound, `"run-missing"`},
		{"ClaimEvent without key", func(ctx context.Context, m *store.Memory) error {
			_, _, err := m.ClaimEvent(ctx, "", "run-1", t0, t0.Add(time.Minute))
			return err
		}, nil, "event key is empty"},
		{"ClaimEvent without run id", func(ctx context.Context, m *store.Memory) error {
			_, _, err := m.ClaimEvent(ctx, "evt-1", "", t0, t0.Add(time.Minute))
			return err
		}, nil, "run id is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			m := store.NewMemory()
			require.NoError(t, m.CreateRun(ctx, newRun("run-1")), "CreateRun")
			err := tc.call(ctx, m)
			require.ErrorContains(t, err, tc.wantMsg, tc.name)
			if tc.wantIs != nil {
				assert.ErrorIs(t, err, tc.wantIs, tc.name)
			}

			// The refused call stored nothing.
			steps, err := m.Steps(ctx, "run-1")
			require.NoError(t, err, "Steps")
			assert.Equal(t, 0, len(steps), "steps of run-1")
			assert.Equal(t, 0, store.ClaimCount(m), "claims held")
			r, err := m.GetRun(ctx, "run-1")
			require.NoError(t, err, "GetRun")
			assert.Equal(t, func() playbook.Run { r := newRun("run-1"); r.Version = 1; return r }(), r, "run-1")
		})
	}
}

func TestMemoryCancelledContext(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(ctx context.Context, m *store.Memory) error
	}{
		{"CreateRun", func(ctx context.Context, m *store.Memory) error { return m.CreateRun(ctx, newRun("run-2")) }},
		{"UpdateRun", func(ctx context.Context, m *store.Memory) error {
			r := newRun("run-1")
			r.Version, r.State = 1, playbook.RunDone
			_, err := m.UpdateRun(ctx, r)
			return err
		}},
		{"GetRun", func(ctx context.Context, m *store.Memory) error { _, err := m.GetRun(ctx, "run-1"); return err }},
		{"ListRuns", func(ctx context.Context, m *store.Memory) error {
			_, err := m.ListRuns(ctx, playbook.RunFilter{})
			return err
		}},
		{"PutStep", func(ctx context.Context, m *store.Memory) error {
			return m.PutStep(ctx, playbook.StepRecord{RunID: "run-1", StepID: "s1"})
		}},
		{"Steps", func(ctx context.Context, m *store.Memory) error { _, err := m.Steps(ctx, "run-1"); return err }},
		{"ClaimEvent", func(ctx context.Context, m *store.Memory) error {
			_, _, err := m.ClaimEvent(ctx, "evt-1", "run-1", t0, t0.Add(time.Minute))
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := store.NewMemory()
			require.NoError(t, m.CreateRun(t.Context(), newRun("run-1")), "CreateRun")
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			err := tc.call(ctx, m)
			require.ErrorIs(t, err, context.Canceled, tc.name+" with a cancelled context")

			// The call had no effect.
			runs, err := m.ListRuns(t.Context(), playbook.RunFilter{})
			require.NoError(t, err, "ListRuns")
			want := newRun("run-1")
			want.Version = 1
			assert.Equal(t, []playbook.Run{want}, runs, "stored runs")
			steps, err := m.Steps(t.Context(), "run-1")
			require.NoError(t, err, "Steps")
			assert.Equal(t, 0, len(steps), "steps of run-1")
			assert.Equal(t, 0, store.ClaimCount(m), "claims held")
		})
	}
}

func TestMemoryPrunesExpiredClaims(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// keys claims are made at t0; key i expires at t0 + expiresIn(i).
		keys      int
		expiresIn func(i int) time.Duration
		// then one more claim is made at t0 + probeAt.
		probeAt   time.Duration
		wantCount int
	}{
		{"all expired", 1000, func(int) time.Duration { return time.Minute }, 2 * time.Minute, 1},
		{"none expired", 100, func(int) time.Duration { return time.Hour }, time.Minute, 101},
		{"expiry instant counts as expired", 100, func(i int) time.Duration { return time.Duration(i) * time.Second }, 50 * time.Second, 50},
		{"reverse order expiries", 100, func(i int) time.Duration { return time.Duration(100-i) * time.Second }, 30*time.Second + 1, 71},
		{"interleaved expiries", 100, func(i int) time.Duration { return time.Duration((i*37)%100) * time.Second }, 10 * time.Second, 90},
		{"already expired when claimed", 10, func(int) time.Duration { return 0 }, 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			m := store.NewMemory()
			for i := range tc.keys {
				owner, claimed, err := m.ClaimEvent(ctx, fmt.Sprintf("evt-%d", i), "run-1", t0, t0.Add(tc.expiresIn(i)))
				require.NoError(t, err, "ClaimEvent")
				assert.Equal(t, "run-1", owner, "owner of a fresh key")
				assert.Equal(t, true, claimed, "claimed a fresh key")
			}
			now := t0.Add(tc.probeAt)
			_, claimed, err := m.ClaimEvent(ctx, "probe", "run-2", now, now.Add(time.Hour))
			require.NoError(t, err, "probe ClaimEvent")
			assert.Equal(t, true, claimed, "probe claimed")
			assert.Equal(t, tc.wantCount, store.ClaimCount(m), "claims held after the probe")

			// Pruning dropped exactly the expired claims: every unexpired
			// one still holds, every expired one can be taken.
			for i := range tc.keys {
				expired := !now.Before(t0.Add(tc.expiresIn(i)))
				owner, claimed, err := m.ClaimEvent(ctx, fmt.Sprintf("evt-%d", i), "run-3", now, now.Add(time.Hour))
				require.NoError(t, err, "ClaimEvent")
				if expired {
					assert.Equal(t, [2]any{"run-3", true}, [2]any{owner, claimed}, fmt.Sprintf("claim of expired key %d", i))
				} else {
					assert.Equal(t, [2]any{"run-1", false}, [2]any{owner, claimed}, fmt.Sprintf("claim of held key %d", i))
				}
			}
		})
	}
}

func TestMemoryLongJournal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		steps int
	}{
		{"short", 3},
		{"at the index threshold", 8},
		{"past the index threshold", 9},
		{"long", 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			m := store.NewMemory()
			require.NoError(t, m.CreateRun(ctx, newRun("run-1")), "CreateRun")
			for i := range tc.steps {
				require.NoError(t, m.PutStep(ctx, playbook.StepRecord{RunID: "run-1", StepID: fmt.Sprintf("s%03d", i), Status: playbook.StepStarted}), "PutStep")
			}
			// Upsert every step again, last first, with a result.
			for i := tc.steps - 1; i >= 0; i-- {
				require.NoError(t, m.PutStep(ctx, playbook.StepRecord{
					RunID: "run-1", StepID: fmt.Sprintf("s%03d", i), Status: playbook.StepDone,
					Result: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
				}), "PutStep upsert")
			}
			got, err := m.Steps(ctx, "run-1")
			require.NoError(t, err, "Steps")
			want := make([]playbook.StepRecord, tc.steps)
			for i := range want {
				want[i] = playbook.StepRecord{
					RunID: "run-1", StepID: fmt.Sprintf("s%03d", i), Status: playbook.StepDone,
					Result: json.RawMessage(fmt.Sprintf(`{"i":%d}`, i)),
				}
			}
			assert.Equal(t, want, got, "journal")
		})
	}
}

// TestMemoryReadersDuringWrites checks that readers never observe a run
// half-written while a writer replaces it: version n carries n in Ticket
// and n notes.
func TestMemoryReadersDuringWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := store.NewMemory()
	r := newRun("run-1")
	r.Decision = &playbook.Decision{Response: playbook.RespondLog, Rule: "r"}
	r.Ticket = "0"
	require.NoError(t, m.CreateRun(ctx, r), "CreateRun")
	const updates = 300
	var wg sync.WaitGroup
	wg.Go(func() {
		cur := r
		cur.Version = 1
		for i := 1; i <= updates; i++ {
			cur.Ticket = fmt.Sprint(i)
			cur.Decision.Notes = append(cur.Decision.Notes, "n")
			next, err := m.UpdateRun(ctx, cur)
			if err != nil {
				t.Errorf("UpdateRun %d: %v", i, err)
				return
			}
			cur = next
		}
	})
	for range 4 {
		wg.Go(func() {
			for range updates {
				got, err := m.GetRun(ctx, "run-1")
				if err != nil {
					t.Errorf("GetRun: %v", err)
					return
				}
				n := len(got.Decision.Notes)
				if got.Ticket != fmt.Sprint(n) || got.Version != int64(n)+1 {
					t.Errorf("torn read: ticket %s, %d notes, version %d", got.Ticket, n, got.Version)
					return
				}
				if runs, err := m.ListRuns(ctx, playbook.RunFilter{Subject: "fake:u1"}); err != nil || len(runs) != 1 {
					t.Errorf("ListRuns: %d runs, %v", len(runs), err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := m.GetRun(ctx, "run-1")
	require.NoError(t, err, "GetRun")
	assert.Equal(t, fmt.Sprint(updates), got.Ticket, "final ticket")
	assert.Equal(t, int64(updates+1), got.Version, "final version")
}

func TestMemoryErrorsNameTheRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	m := store.NewMemory()
	require.NoError(t, m.CreateRun(ctx, newRun("run-1")), "CreateRun")
	stale := newRun("run-1")
	stale.Version = 7
	_, conflict := m.UpdateRun(ctx, stale)
	_, notFound := m.GetRun(ctx, "run-x")
	tests := []struct {
		name   string
		err    error
		wantIs error
		want   []string
	}{
		{"exists", m.CreateRun(ctx, newRun("run-1")), playbook.ErrRunExists, []string{`"run-1"`}},
		{"conflict", conflict, playbook.ErrVersionConflict, []string{`"run-1"`, "stored version is 1", "based on 7"}},
		{"not found", notFound, playbook.ErrRunNotFound, []string{`"run-x"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, w := range tc.want {
				require.ErrorContains(t, tc.err, w, tc.name)
				if tc.wantIs != nil {
					assert.ErrorIs(t, tc.err, tc.wantIs, tc.name)
				}
			}
		})
	}
}
