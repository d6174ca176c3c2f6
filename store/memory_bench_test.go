package store_test

import (
	"context"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store"
)

// benchRun is the run every simulated run starts from: an event with
// attributes and a raw payload, as a trigger would deliver it.
func benchRun() playbook.Run {
	return playbook.Run{
		Event: playbook.Event{
			ID: "evt", Type: playbook.EventRiskySignIn, Source: "bench",
			Subject:    playbook.Subject{Provider: "fake", ID: "u1", Login: "u1@example.com"},
			Risk:       playbook.RiskHigh,
			Reason:     "unfamiliarFeatures",
			OccurredAt: t0,
			Attributes: map[string]string{"ip": "203.0.113.7", "location": "Lisbon, PT"},
			Raw:        json.RawMessage(`{"id":"evt","riskLevel":"high","ipAddress":"203.0.113.7","location":{"city":"Lisbon","countryOrRegion":"PT"}}`),
		},
		Subject:   "fake:u1",
		State:     playbook.RunPending,
		CreatedAt: t0,
		UpdatedAt: t0,
	}
}

var benchDecision = playbook.Decision{
	Response: playbook.RespondContain,
	Steps: []playbook.Step{
		{Action: "revoke-sessions"},
		{Action: "remove-role", Params: map[string]string{"role": "Global Administrator"}},
	},
	Rule:   "high-risk-standard",
	Reason: "high risk, standard account",
}

var benchResult = json.RawMessage(`{"status":"done","detail":"3 sessions revoked"}`)

// runOps is the store traffic of one run as the embedded runner makes it:
// one claim, one create, four compare-and-swap updates, five journal puts.
type runOps interface {
	ClaimEvent(ctx context.Context, key, runID string, now, expires time.Time) (string, bool, error)
	CreateRun(ctx context.Context, r playbook.Run) error
	UpdateRun(ctx context.Context, r playbook.Run) (playbook.Run, error)
	PutStep(ctx context.Context, s playbook.StepRecord) error
}

func simulateRun(ctx context.Context, s runOps, id string) error {
	if _, _, err := s.ClaimEvent(ctx, "evt-"+id, id, t0, t0.Add(time.Hour)); err != nil {
		return err
	}
	r := benchRun()
	r.ID = id
	if err := s.CreateRun(ctx, r); err != nil {
		return err
	}
	r.Version = 1
	step := playbook.StepRecord{RunID: id, StartedAt: t0, EndedAt: t0, Status: playbook.StepDone, Attempt: 1}
	put := func(stepID string, kind playbook.StepKind, status playbook.StepStatus) error {
		step.StepID, step.Kind, step.Status, step.Result = stepID, kind, status, benchResult
		return s.PutStep(ctx, step)
	}
	update := func(change func(*playbook.Run)) error {
		change(&r)
		next, err := s.UpdateRun(ctx, r)
		r = next
		return err
	}
	for _, op := range []func() error{
		func() error { return update(func(r *playbook.Run) { r.State = playbook.RunRunning }) },
		func() error { return put("enrich", playbook.StepEnrich, playbook.StepDone) },
		func() error { return put("decide", playbook.StepDecide, playbook.StepDone) },
		func() error { d := benchDecision; return update(func(r *playbook.Run) { r.Decision = &d }) },
		func() error { return put("action-0", playbook.StepAction, playbook.StepStarted) },
		func() error { return put("action-0", playbook.StepAction, playbook.StepDone) },
		func() error { return put("action-1", playbook.StepAction, playbook.StepDone) },
		func() error { return update(func(r *playbook.Run) { r.Ticket = "SEC-1" }) },
		func() error {
			return update(func(r *playbook.Run) { r.State, r.Outcome = playbook.RunDone, playbook.OutcomeContained })
		},
	} {
		if err := op(); err != nil {
			return err
		}
	}
	return nil
}

// mapStore is the baseline: the same operations as plain map writes under
// one mutex, without copies or the journal's upsert order.
type mapStore struct {
	mu     sync.Mutex
	runs   map[string]playbook.Run
	steps  map[string][]playbook.StepRecord
	claims map[string]string
}

func (m *mapStore) ClaimEvent(_ context.Context, key, runID string, _, _ time.Time) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o, ok := m.claims[key]; ok {
		return o, false, nil
	}
	m.claims[key] = runID
	return runID, true, nil
}

func (m *mapStore) CreateRun(_ context.Context, r playbook.Run) error {
	m.mu.Lock()
	r.Version = 1
	m.runs[r.ID] = r
	m.mu.Unlock()
	return nil
}

func (m *mapStore) UpdateRun(_ context.Context, r playbook.Run) (playbook.Run, error) {
	m.mu.Lock()
	r.Version++
	m.runs[r.ID] = r
	m.mu.Unlock()
	return r, nil
}

func (m *mapStore) PutStep(_ context.Context, s playbook.StepRecord) error {
	m.mu.Lock()
	m.steps[s.RunID] = append(m.steps[s.RunID], s)
	m.mu.Unlock()
	return nil
}

// BenchmarkMemoryStoreRun measures whole runs' worth of store traffic per
// second, from GOMAXPROCS goroutines, on Memory and on the map baseline.
func BenchmarkMemoryStoreRun(b *testing.B) {
	stores := []struct {
		name string
		new  func() runOps
	}{
		{"memory", func() runOps { return store.NewMemory() }},
		{"baseline-map-mutex", func() runOps {
			return &mapStore{runs: map[string]playbook.Run{}, steps: map[string][]playbook.StepRecord{}, claims: map[string]string{}}
		}},
	}
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.new()
			ctx := b.Context()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := "run-" + strconv.FormatInt(next.Add(1), 10)
					if err := simulateRun(ctx, s, id); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "runs/s")
		})
	}
}
