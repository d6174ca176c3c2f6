package playbook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
	"github.com/iamplaybook/iamplaybook/store"
)

// recorder is a set of actions that record their executions.
type recorder struct {
	mu    sync.Mutex
	calls []playbook.ActionRequest
	// fail, when set, decides an action's error.
	fail func(req playbook.ActionRequest) error
	// block, when set, makes every action wait for ctx to end.
	block bool
	// delay makes every action sleep first.
	delay time.Duration
	// plans counts Plan calls.
	plans atomic.Int64
}

type recAction struct {
	name string
	r    *recorder
}

func (a recAction) Name() string { return a.name }

func (a recAction) Execute(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	if a.r.delay > 0 {
		time.Sleep(a.r.delay)
	}
	a.r.mu.Lock()
	a.r.calls = append(a.r.calls, req)
	fail, block := a.r.fail, a.r.block
	a.r.mu.Unlock()
	if block {
		<-ctx.Done()
		return playbook.ActionResult{}, ctx.Err()
	}
	if fail != nil {
		if err := fail(req); err != nil {
			return playbook.ActionResult{}, err
		}
	}
	return playbook.ActionResult{Status: playbook.StatusApplied, Detail: a.name + " done"}, nil
}

func (a recAction) Plan(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
	a.r.plans.Add(1)
	return playbook.ActionResult{Status: playbook.StatusDryRun, Detail: "would " + a.name}, nil
}

func (r *recorder) actions(names ...string) map[string]playbook.Action {
	m := map[string]playbook.Action{}
	for _, n := range names {
		m[n] = recAction{name: n, r: r}
	}
	return m
}

func (r *recorder) Calls() []playbook.ActionRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]playbook.ActionRequest(nil), r.calls...)
}

// attrPolicy decides from the event's "response" attribute, so that each
// test states the decision it needs.
var attrPolicy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	resp := playbook.Response(c.Event.Attributes["response"])
	if resp == "" {
		resp = playbook.RespondLog
	}
	d := playbook.Decision{Response: resp, Rule: "test/" + string(resp)}
	if resp == playbook.RespondContain || resp == playbook.RespondApprove {
		d.Steps = []playbook.Step{{Action: "disable-user"}, {Action: "revoke-sessions"}}
	}
	return d, nil
})

func event(id, user string, resp playbook.Response) playbook.Event {
	return playbook.Event{
		ID: id, Type: playbook.EventRiskySignIn, Source: "test", Risk: playbook.RiskHigh,
		Subject:    playbook.Subject{Provider: "fake", ID: user, Login: user + "@example.com"},
		Attributes: map[string]string{"response": string(resp)},
	}
}

func basePlaybook(rec *recorder) playbook.Playbook {
	return playbook.Playbook{
		Name:    "test",
		Policy:  attrPolicy,
		Actions: rec.actions("disable-user", "revoke-sessions"),
	}
}

func types(recs []audit.Record) []audit.Type {
	out := make([]audit.Type, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

func TestRunnerOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		resp     playbook.Response
		dryRun   bool
		want     playbook.Outcome
		calls    int
		ticket   bool
		sequence []audit.Type
	}{
		{name: "log", resp: playbook.RespondLog, want: playbook.OutcomeLogged,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeRunResolved}},
		{name: "monitor", resp: playbook.RespondMonitor, want: playbook.OutcomeMonitoring,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeRunResolved}},
		{name: "escalate", resp: playbook.RespondEscalate, want: playbook.OutcomeEscalated, ticket: true,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeTicket, audit.TypeRunResolved}},
		{name: "contain", resp: playbook.RespondContain, want: playbook.OutcomeContained, calls: 2, ticket: true,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeTicket,
				audit.TypeActionIntent, audit.TypeActionResult, audit.TypeActionIntent, audit.TypeActionResult, audit.TypeTicket, audit.TypeRunResolved}},
		{name: "contain dry-run", resp: playbook.RespondContain, dryRun: true, want: playbook.OutcomeDryRun, calls: 0, ticket: true,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeTicket,
				audit.TypeActionIntent, audit.TypeActionResult, audit.TypeActionIntent, audit.TypeActionResult, audit.TypeTicket, audit.TypeRunResolved}},
		{name: "approve dry-run plans without asking", resp: playbook.RespondApprove, dryRun: true, want: playbook.OutcomeDryRun, calls: 0,
			sequence: []audit.Type{audit.TypeEventReceived, audit.TypeEnrichment, audit.TypeDecision, audit.TypeApprovalRequested,
				audit.TypeActionIntent, audit.TypeActionResult, audit.TypeActionIntent, audit.TypeActionResult, audit.TypeRunResolved}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			pb := basePlaybook(rec)
			pb.DryRun = tt.dryRun
			h := playbooktest.New(t, pb)
			id := h.Fire(event("e1", "alice", tt.resp))
			h.Settle()
			h.RequireOutcome(id, tt.want)
			assert.Len(t, rec.Calls(), tt.calls, "provider writes")
			assert.Equal(t, tt.sequence, types(h.RunRecords(id)))
			assert.Equal(t, tt.ticket, len(h.Tickets.Tickets()) == 1, "ticket opened")
			assert.Empty(t, h.Approvals.Requests(), "approvers notified")
			if tt.dryRun {
				assert.EqualValues(t, 2, rec.plans.Load(), "dry-run plans each step")
				for _, r := range h.Records(audit.TypeActionResult) {
					assert.Equal(t, string(playbook.StatusDryRun), r.Outcome)
				}
			}
			h.CheckInvariants()
		})
	}
}

func TestRunnerContainmentStepsCarryDeterministicKeys(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := playbooktest.New(t, basePlaybook(rec))
	id1 := h.Fire(event("e1", "alice", playbook.RespondContain))
	id2 := h.Fire(event("e2", "bob", playbook.RespondContain))
	h.Settle()
	keys := map[string]string{}
	for _, c := range rec.Calls() {
		assert.NotEmpty(t, c.IdempotencyKey)
		assert.Equal(t, 1, c.Attempt)
		assert.True(t, strings.HasPrefix(c.StepID, "contain/"), c.StepID)
		_, dup := keys[c.IdempotencyKey]
		assert.False(t, dup, "idempotency keys are unique across steps and runs")
		keys[c.IdempotencyKey] = c.RunID + "/" + c.StepID
	}
	assert.Len(t, keys, 4)
	// The intent and result records carry the same key the action saw.
	for _, r := range h.Records(audit.TypeActionIntent, audit.TypeActionResult) {
		assert.Equal(t, r.RunID+"/"+r.Step, keys[r.IdempotencyKey])
	}
	h.RequireOutcome(id1, playbook.OutcomeContained)
	h.RequireOutcome(id2, playbook.OutcomeContained)
}

func TestRunnerApproval(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		verdict  func(h *playbooktest.Harness, id string) error
		want     playbook.Outcome
		contains bool
	}{
		{name: "approved then contained", want: playbook.OutcomeContained, contains: true,
			verdict: func(h *playbooktest.Harness, id string) error {
				return h.Approve(id, "secops-lead@example.com", "confirmed with user")
			}},
		{name: "denied then escalated", want: playbook.OutcomeEscalated,
			verdict: func(h *playbooktest.Harness, id string) error { return h.Deny(id, "secops-lead@example.com", "travel") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := playbooktest.New(t, basePlaybook(rec))
			id := h.Fire(event("e1", "alice", playbook.RespondApprove))
			h.Settle()
			req := h.RequireWaiting(id)
			assert.Empty(t, rec.Calls(), "nothing runs before the verdict")
			assert.Contains(t, req.Summary, "alice@example.com")
			assert.Len(t, h.Approvals.Requests(), 1, "approvers notified once")
			require.NoError(t, tt.verdict(h, id))
			h.RequireOutcome(id, tt.want)
			assert.Equal(t, tt.contains, len(rec.Calls()) == 2)
			tk := h.Tickets.Tickets()
			require.Len(t, tk, 1)
			assert.True(t, slices.ContainsFunc(tk[0].Notes, func(n string) bool { return strings.Contains(n, "by secops-lead@example.com via test") }),
				"the ticket says who decided: %q", tk[0].Notes)
			v := h.Records(audit.TypeVerdict)
			require.Len(t, v, 1)
			assert.Equal(t, "secops-lead@example.com", v[0].Actor)
			assert.Equal(t, "test", v[0].Data["channel"])
			h.CheckInvariants()
		})
	}
}

func TestRunnerRefusesBadVerdicts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		verdict func(id string) playbook.Verdict
		want    error
	}{
		{name: "subject approves own containment by login", want: playbook.ErrSelfApproval,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approver: "ALICE@example.com", Approve: true, Channel: "web"}
			}},
		{name: "subject approves by id", want: playbook.ErrSelfApproval,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approver: "alice", Approve: true, Channel: "web"}
			}},
		{name: "actor who caused the event approves", want: playbook.ErrSelfApproval,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approver: "mallory@example.com", Approve: true, Channel: "web"}
			}},
		{name: "unknown approval", want: playbook.ErrApprovalNotFound,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: "nope:approval", Approver: "lead", Approve: true, Channel: "web"}
			}},
		{name: "malformed approval id", want: playbook.ErrApprovalNotFound,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: "x", Approver: "lead", Approve: true, Channel: "web"}
			}},
		{name: "no approver", want: playbook.ErrInvalidVerdict,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approve: true, Channel: "web"}
			}},
		{name: "no channel", want: playbook.ErrInvalidVerdict,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approver: "lead", Approve: true}
			}},
		{name: "approver saw another summary", want: playbook.ErrInvalidVerdict,
			verdict: func(id string) playbook.Verdict {
				return playbook.Verdict{ApprovalID: id, Approver: "lead", Approve: true, Channel: "web", SummaryHash: "00"}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := playbooktest.New(t, basePlaybook(rec))
			ev := event("e1", "alice", playbook.RespondApprove)
			ev.Actor = "mallory@example.com"
			id := h.Fire(ev)
			h.Settle()
			err := h.Runner.Submit(t.Context(), tt.verdict(playbook.ApprovalID(id)))
			require.ErrorIs(t, err, tt.want)
			h.Settle()
			h.RequireWaiting(id)
			assert.Empty(t, rec.Calls())
			rejected := h.Records(audit.TypeVerdictRejected)
			require.Len(t, rejected, 1, "the refusal is audited")
			assert.Equal(t, err.Error(), rejected[0].Error)
			assert.Empty(t, h.Records(audit.TypeVerdict))
		})
	}
}

func TestRunnerVerdictAfterDecisionIsRefused(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := playbooktest.New(t, basePlaybook(rec))
	id := h.Fire(event("e1", "alice", playbook.RespondApprove))
	h.Settle()
	require.NoError(t, h.Deny(id, "lead-1", "no"))
	err := h.Approve(id, "lead-2", "yes")
	require.ErrorIs(t, err, playbook.ErrApprovalClosed)
	h.RequireOutcome(id, playbook.OutcomeEscalated)
	assert.Empty(t, rec.Calls(), "a late approval never contains")
}

func TestRunnerApprovalDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		pb := basePlaybook(rec)
		pb.ApprovalTimeout = time.Hour
		h := playbooktest.New(t, pb)
		start := time.Now()
		id := h.Fire(event("e1", "alice", playbook.RespondApprove))
		h.Settle()
		req := h.RequireWaiting(id)
		assert.Equal(t, start.Add(time.Hour).UTC(), req.Deadline)

		h.Advance(time.Hour - time.Second)
		h.RequireWaiting(id)

		h.Advance(time.Second)
		h.RequireOutcome(id, playbook.OutcomeEscalated)
		exp := h.Records(audit.TypeApprovalExpired)
		require.Len(t, exp, 1)
		assert.Equal(t, start.Add(time.Hour).UTC(), exp[0].Time, "expired exactly at the deadline")
		assert.Empty(t, rec.Calls(), "an unanswered request is denied, never approved")

		err := h.Approve(id, "lead", "too late")
		require.ErrorIs(t, err, playbook.ErrApprovalClosed)
		h.CheckInvariants()
	})
}

func TestRunnerVerdictAtDeadlineIsRefused(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		pb := basePlaybook(rec)
		pb.ApprovalTimeout = time.Minute
		// A clock that lags the bubble keeps the deadline timer from firing
		// first, so the verdict itself meets the deadline.
		h := playbooktest.New(t, pb)
		id := h.Fire(event("e1", "alice", playbook.RespondApprove))
		h.Settle()
		req := h.RequireWaiting(id)
		time.Sleep(time.Until(req.Deadline))
		err := h.Runner.Submit(t.Context(), playbook.Verdict{ApprovalID: req.ID, Approver: "lead", Approve: true, Channel: "web"})
		if !errors.Is(err, playbook.ErrApprovalExpired) && !errors.Is(err, playbook.ErrApprovalClosed) {
			t.Fatalf("verdict at the deadline: %v, want expired or closed", err)
		}
		h.Settle()
		h.RequireOutcome(id, playbook.OutcomeEscalated)
		assert.Empty(t, rec.Calls())
	})
}

func TestRunnerDeduplicates(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		h := playbooktest.New(t, basePlaybook(rec), playbooktest.Options{Runner: playbook.Options{DedupWindow: time.Hour}})
		id := h.Fire(event("e1", "alice", playbook.RespondContain))
		h.Settle()
		again, err := h.Handle(event("e1", "alice", playbook.RespondContain))
		require.ErrorIs(t, err, playbook.ErrDuplicate)
		assert.Equal(t, id, again, "a duplicate names the original run")
		assert.Len(t, h.Records(audit.TypeEventDuplicate), 1)

		// Without an id, the content fingerprint de-duplicates.
		noID := event("", "bob", playbook.RespondLog)
		h.Fire(noID)
		_, err = h.Handle(noID)
		require.ErrorIs(t, err, playbook.ErrDuplicate)

		h.Advance(time.Hour)
		id2 := h.Fire(event("e1", "alice", playbook.RespondContain))
		assert.NotEqual(t, id, id2, "after the window the same id starts a new run")
		h.Settle()
		runs, err := h.Store.ListRuns(t.Context(), playbook.RunFilter{})
		require.NoError(t, err)
		assert.Len(t, runs, 3)
	})
}

func TestRunnerRejectsBadEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ev   playbook.Event
		json string
		want error
	}{
		{name: "no subject", ev: playbook.Event{ID: "x", Type: playbook.EventRiskySignIn}, want: playbook.ErrNoSubject},
		{name: "unknown type", ev: playbook.Event{ID: "x", Type: "weird", Subject: playbook.Subject{ID: "u"}}, want: playbook.ErrUnknownEventType},
		{name: "bad risk", ev: playbook.Event{ID: "x", Type: playbook.EventRiskySignIn, Subject: playbook.Subject{ID: "u"}, Risk: 9}, want: playbook.ErrInvalidEvent},
		{name: "malformed json", json: `{"type":"risk.signin","subject":{"id":"u"}`, want: playbook.ErrInvalidEvent},
		{name: "json with a password field", json: `{"type":"risk.signin","subject":{"id":"u"},"password":"hunter2"}`, want: playbook.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			h := playbooktest.New(t, basePlaybook(rec))
			var err error
			if tt.json != "" {
				_, err = h.Runner.HandleJSON(t.Context(), []byte(tt.json))
			} else {
				_, err = h.Handle(tt.ev)
			}
			require.ErrorIs(t, err, tt.want)
			rej := h.Records(audit.TypeEventRejected)
			require.Len(t, rej, 1, "the rejection is audited")
			assert.Equal(t, err.Error(), rej[0].Error)
			assert.NotContains(t, fmt.Sprint(rej[0].Data), "hunter2", "payload content never reaches the audit")

			// Other runs go on.
			id := h.Fire(event("ok", "bob", playbook.RespondContain))
			h.Settle()
			h.RequireOutcome(id, playbook.OutcomeContained)
		})
	}
}

func TestRunnerContainsPanics(t *testing.T) {
	t.Parallel()
	// Only alice's run panics; bob's must go on.
	boom := func(c *playbook.Case) {
		if c.Event.Subject.ID == "alice" {
			panic("boom")
		}
	}
	tests := []struct {
		name  string
		setup func(pb *playbook.Playbook)
		stage string
	}{
		{name: "enricher", stage: "enrich", setup: func(pb *playbook.Playbook) {
			pb.Enricher = playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error { boom(c); return nil })
		}},
		{name: "policy", stage: "decide", setup: func(pb *playbook.Playbook) {
			pb.Policy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
				boom(c)
				return attrPolicy(ctx, c)
			})
		}},
		{name: "action", stage: "action disable-user", setup: func(pb *playbook.Playbook) {
			pb.Actions["disable-user"] = playbook.ActionFunc("disable-user", func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
				panic("boom")
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			pb := basePlaybook(rec)
			tt.setup(&pb)
			h := playbooktest.New(t, pb)
			id := h.Fire(event("e1", "alice", playbook.RespondContain))
			other := h.Fire(event("e2", "bob", playbook.RespondLog))
			h.Settle()
			h.RequireOutcome(id, playbook.OutcomeEscalated)
			run := h.Run(id)
			assert.Contains(t, run.Error, "panic in "+tt.stage+": boom")
			assert.Empty(t, rec.Calls(), "nothing after the panic ran")
			h.RequireOutcome(other, playbook.OutcomeLogged)
			h.CheckInvariants()
		})
	}
}

func TestRunnerFailedStepEscalates(t *testing.T) {
	t.Parallel()
	rec := &recorder{fail: func(req playbook.ActionRequest) error {
		if strings.HasSuffix(req.StepID, "disable-user") {
			return &playbook.ProviderError{Provider: "fake", Op: "disable-user", Status: 403, Code: "Authorization_RequestDenied", Err: playbook.ErrPermissionDenied}
		}
		return nil
	}}
	h := playbooktest.New(t, basePlaybook(rec))
	id := h.Fire(event("e1", "alice", playbook.RespondContain))
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeEscalated)
	assert.Len(t, rec.Calls(), 1, "later steps do not run after a failure")
	res := h.Records(audit.TypeActionResult)
	require.Len(t, res, 1)
	assert.Equal(t, "failed", res[0].Outcome)
	assert.Equal(t, "permanent", res[0].Data["error_class"])
	assert.Equal(t, "Authorization_RequestDenied", res[0].Data["provider_code"])
	assert.Contains(t, h.Run(id).Error, "revoke-sessions", "the error names the steps not run")
	tk := h.Tickets.Tickets()
	require.Len(t, tk, 1)
	assert.False(t, tk[0].Closed, "an escalated ticket stays open for people")
	h.CheckInvariants()
}

func TestRunnerAuditFailureStopsTheRun(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		fail func() error
		want string
	}{
		{name: "sink returns an error", fail: func() error { return errors.New("disk full") }, want: "disk full"},
		{name: "sink panics", fail: func() error { panic("sink bug") }, want: "panic in audit sink: sink bug"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			pb := basePlaybook(rec)
			failIntent := audit.SinkFunc(func(ctx context.Context, r audit.Record) error {
				if r.Type == audit.TypeActionIntent {
					return tt.fail()
				}
				return nil
			})
			pb.Audit = []playbook.AuditSink{failIntent}
			h := playbooktest.New(t, pb)
			id := h.Fire(event("e1", "alice", playbook.RespondContain))
			other := h.Fire(event("e2", "bob", playbook.RespondLog))
			h.Settle()
			run := h.Run(id)
			assert.Equal(t, playbook.RunDone, run.State)
			assert.Equal(t, playbook.OutcomeEscalated, run.Outcome)
			assert.Contains(t, run.Error, tt.want)
			assert.Empty(t, rec.Calls(), "no step runs without its intent record")
			h.RequireOutcome(other, playbook.OutcomeLogged)
		})
	}
}

func TestRunnerPerSubjectOrdering(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		active := map[string]int{}
		var overlap atomic.Bool
		slow := func(name string) playbook.Action {
			return playbook.ActionFunc(name, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
				mu.Lock()
				active[req.Subject.ID]++
				if active[req.Subject.ID] > 1 {
					overlap.Store(true)
				}
				mu.Unlock()
				time.Sleep(time.Second)
				mu.Lock()
				active[req.Subject.ID]--
				mu.Unlock()
				return playbook.ActionResult{Status: playbook.StatusApplied}, nil
			})
		}
		pb := playbook.Playbook{Name: "order", Policy: attrPolicy,
			Actions: map[string]playbook.Action{"disable-user": slow("disable-user"), "revoke-sessions": slow("revoke-sessions")}}
		h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Concurrency: 8}})
		start := time.Now()
		for i := range 3 {
			h.Fire(event(fmt.Sprint("a", i), "alice", playbook.RespondContain))
			h.Fire(event(fmt.Sprint("b", i), "bob", playbook.RespondContain))
		}
		h.Settle()
		assert.False(t, overlap.Load(), "two runs about one subject never overlap")
		// 3 runs × 2 steps × 1s per subject, both subjects in parallel.
		assert.Equal(t, 6*time.Second, time.Since(start))
		h.CheckInvariants()
	})
}

func TestRunnerBoundedConcurrency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var cur, peak atomic.Int64
		act := playbook.ActionFunc("disable-user", func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Second)
			cur.Add(-1)
			return playbook.ActionResult{Status: playbook.StatusApplied}, nil
		})
		policy := playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondContain, Rule: "all", Steps: []playbook.Step{{Action: "disable-user"}}}, nil
		})
		pb := playbook.Playbook{Name: "bounded", Policy: policy, Actions: map[string]playbook.Action{"disable-user": act}}
		h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Concurrency: 2}})
		start := time.Now()
		for i := range 6 {
			h.Fire(event(fmt.Sprint("e", i), fmt.Sprint("user", i), playbook.RespondContain))
		}
		h.Settle()
		assert.EqualValues(t, 2, peak.Load())
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestRunnerBackpressure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{delay: time.Second}
		h := playbooktest.New(t, basePlaybook(rec), playbooktest.Options{Runner: playbook.Options{Concurrency: 1, MaxQueued: 2}})
		start := time.Now()
		for i := range 4 {
			h.Fire(event(fmt.Sprint("e", i), fmt.Sprint("u", i), playbook.RespondContain))
		}
		// The third and fourth Handle waited for room in the queue.
		assert.GreaterOrEqual(t, time.Since(start), 2*time.Second)
		h.Settle()
	})
}

func TestRunnerResumesInterruptedStep(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		sink := audit.NewMemory()
		rec := &recorder{block: true}
		pb := basePlaybook(rec)
		pb.Audit = []playbook.AuditSink{sink}
		r1, err := playbook.NewRunner(pb, playbook.Options{Store: st, DrainTimeout: time.Second})
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- r1.Run(ctx) }()
		id, err := r1.Handle(t.Context(), event("e1", "alice", playbook.RespondContain))
		require.NoError(t, err)
		synctest.Wait()
		cancel()
		err = <-done
		require.Error(t, err, "the drain timed out on the blocked step")
		assert.ErrorContains(t, err, "1 runs interrupted", "the error counts the interrupted run")
		run, err := st.GetRun(t.Context(), id)
		require.NoError(t, err)
		assert.Equal(t, playbook.RunRunning, run.State, "the interrupted run stays unfinished")
		first := rec.Calls()
		require.Len(t, first, 1)

		// A new runner on the same store resumes the run.
		rec.mu.Lock()
		rec.block = false
		rec.mu.Unlock()
		h := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
		h.Settle()
		h.RequireOutcome(id, playbook.OutcomeContained)
		calls := rec.Calls()
		require.Len(t, calls, 3, "the interrupted step ran again, then the next one")
		assert.Equal(t, first[0].IdempotencyKey, calls[1].IdempotencyKey, "the retried step keeps its key")
		assert.Equal(t, 2, calls[1].Attempt)
		steps, err := st.Steps(t.Context(), id)
		require.NoError(t, err)
		require.Len(t, steps, 4)
		assert.Equal(t, 1, steps[0].Attempt, "enrichment was not repeated")
		assert.Equal(t, 1, steps[1].Attempt, "the decision was not repeated")
	})
}

func TestRunnerApprovalSurvivesRestart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		downFor time.Duration
		want    playbook.Outcome
	}{
		{name: "verdict after restart", downFor: time.Minute, want: playbook.OutcomeContained},
		{name: "deadline passed while down", downFor: 2 * time.Hour, want: playbook.OutcomeEscalated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				st := store.NewMemory()
				rec := &recorder{}
				pb := basePlaybook(rec)
				pb.ApprovalTimeout = time.Hour
				pb.Ticketer = audit.NewMemoryTicketer() // outlives the restart, like a real one
				h1 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
				id := h1.Fire(event("e1", "alice", playbook.RespondApprove))
				h1.Settle()
				h1.RequireWaiting(id)
				h1.Close()

				time.Sleep(tt.downFor)
				h2 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
				h2.Settle()
				if tt.want == playbook.OutcomeContained {
					h2.RequireWaiting(id)
					require.NoError(t, h2.Approve(id, "lead", "ok"))
				}
				h2.RequireOutcome(id, tt.want)
				assert.Equal(t, tt.want == playbook.OutcomeContained, len(rec.Calls()) == 2)
			})
		})
	}
}

func TestRunnerDrainsOnShutdown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{delay: 10 * time.Second}
		h := playbooktest.New(t, basePlaybook(rec))
		ids := []string{
			h.Fire(event("e1", "alice", playbook.RespondContain)),
			h.Fire(event("e2", "bob", playbook.RespondContain)),
		}
		h.Close() // cancels Run while both runs are mid-step
		for _, id := range ids {
			h.RequireOutcome(id, playbook.OutcomeContained)
		}
		_, err := h.Handle(event("e3", "carol", playbook.RespondLog))
		require.ErrorIs(t, err, playbook.ErrRunnerClosed)
	})
}

func TestRunnerTriggers(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	emitted := make(chan error, 3)
	pb.Triggers = []playbook.Trigger{playbook.TriggerFunc(func(ctx context.Context, emit func(context.Context, playbook.Event) error) error {
		emitted <- emit(ctx, event("t1", "alice", playbook.RespondContain))
		emitted <- emit(ctx, event("t1", "alice", playbook.RespondContain))
		emitted <- emit(ctx, playbook.Event{ID: "bad"})
		<-ctx.Done()
		return nil
	})}
	h := playbooktest.New(t, pb)
	require.NoError(t, <-emitted)
	require.ErrorIs(t, <-emitted, playbook.ErrDuplicate)
	require.ErrorIs(t, <-emitted, playbook.ErrInvalidEvent)
	h.Settle()
	runs, err := h.Store.ListRuns(t.Context(), playbook.RunFilter{})
	require.NoError(t, err)
	require.Len(t, runs, 1)
	h.RequireOutcome(runs[0].ID, playbook.OutcomeContained)
}

var hrRecord = playbook.NewKey[struct {
	Manager string `json:"manager"`
	Active  bool   `json:"active"`
}]("test.hr_record")

func TestRunnerJournalsExtensions(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	pb.Enricher = playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		v, _ := hrRecord.Get(c)
		v.Manager, v.Active = "carol", true
		hrRecord.Set(c, v)
		c.Update(func(f *playbook.Facts) { f.Privilege = playbook.PrivilegeStandard })
		return nil
	})
	var seen atomic.Value
	pb.Policy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		v, ok := hrRecord.Get(c)
		seen.Store(fmt.Sprint(ok, v.Manager, c.Facts.Privilege))
		return playbook.Decision{Response: playbook.RespondLog, Rule: "r"}, nil
	})
	h := playbooktest.New(t, pb)
	id := h.Fire(event("e1", "alice", playbook.RespondLog))
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeLogged)
	assert.Equal(t, "truecarolstandard", seen.Load())
	enr := h.Records(audit.TypeEnrichment)
	require.Len(t, enr, 1)
	ext := enr[0].Data["extensions"].(map[string]any)
	assert.Equal(t, map[string]any{"manager": "carol", "active": true}, ext["test.hr_record"])
}

func TestNewRunnerRejectsBadPlaybooks(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	sink := audit.NewMemory()
	good := func() playbook.Playbook {
		return playbook.Playbook{Name: "p", Policy: attrPolicy, Actions: rec.actions("disable-user"), Audit: []playbook.AuditSink{sink}}
	}
	namer := namingPolicy{names: []string{"disable-user", "remove-role"}}
	tests := []struct {
		name   string
		mutate func(p *playbook.Playbook, o *playbook.Options)
		want   string
	}{
		{name: "no name", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Name = "" }, want: "Name is required"},
		{name: "no policy", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Policy = nil }, want: "Policy is required"},
		{name: "no sink", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Audit = nil }, want: "Audit needs at least one sink"},
		{name: "nil sink", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Audit = append(p.Audit, nil) }, want: "Audit[1] is nil"},
		{name: "nil trigger", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Triggers = []playbook.Trigger{nil} }, want: "Triggers[0] is nil"},
		{name: "nil action", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Actions["x"] = nil }, want: `Actions["x"] is nil`},
		{name: "misnamed action", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Actions["x"] = recAction{name: "y"} }, want: `Actions["x"] is an action named "y"`},
		{name: "unknown action in a rule", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.Policy = namer }, want: `Policy names action "remove-role"`},
		{name: "negative timeout", mutate: func(p *playbook.Playbook, o *playbook.Options) { p.ApprovalTimeout = -1 }, want: "ApprovalTimeout is negative"},
		{name: "no store", mutate: func(p *playbook.Playbook, o *playbook.Options) { o.Store = nil }, want: "Options.Store is required"},
		{name: "negative concurrency", mutate: func(p *playbook.Playbook, o *playbook.Options) { o.Concurrency = -1 }, want: "Options.Concurrency is negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := good()
			p.Actions = rec.actions("disable-user")
			o := playbook.Options{Store: store.NewMemory()}
			tt.mutate(&p, &o)
			_, err := playbook.NewRunner(p, o)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := playbook.NewRunner(good(), playbook.Options{Store: store.NewMemory()})
	require.NoError(t, err, "the baseline playbook is valid")
}

type namingPolicy struct{ names []string }

func (namingPolicy) Decide(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	return playbook.Decision{Response: playbook.RespondLog, Rule: "n"}, nil
}
func (p namingPolicy) ActionNames() []string { return p.names }

func TestRunnerRefusesUnknownActionAtRuntime(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	pb.Policy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
		return playbook.Decision{Response: playbook.RespondContain, Rule: "typo", Steps: []playbook.Step{{Action: "disable-usr"}}}, nil
	})
	h := playbooktest.New(t, pb)
	id := h.Fire(event("e1", "alice", playbook.RespondContain))
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeEscalated)
	assert.Contains(t, h.Run(id).Error, `names action "disable-usr"`)
}

var discardLogger = slog.New(slog.DiscardHandler)

func TestRunnerVerdictWhileNoRunnerRuns(t *testing.T) {
	t.Parallel()
	st := store.NewMemory()
	rec := &recorder{}
	pb := basePlaybook(rec)
	h1 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
	id := h1.Fire(event("e1", "alice", playbook.RespondApprove))
	h1.Settle()
	h1.Close()

	// The verdict arrives through the stopped runner (an operator tool
	// writing while the service is down): it is recorded, and the next
	// runner continues the run.
	require.NoError(t, h1.Runner.Submit(t.Context(), playbook.Verdict{ApprovalID: playbook.ApprovalID(id), Approver: "lead", Approve: true, Channel: "cli"}))
	assert.Empty(t, rec.Calls())
	h2 := playbooktest.New(t, pb, playbooktest.Options{Runner: playbook.Options{Store: st}})
	h2.Settle()
	h2.RequireOutcome(id, playbook.OutcomeContained)
	assert.Len(t, rec.Calls(), 2)
}

func TestRunnerRunsOnce(t *testing.T) {
	t.Parallel()
	r, err := playbook.NewRunner(withSink(basePlaybook(&recorder{})), playbook.Options{Store: store.NewMemory(), Logger: discardLogger,
		DrainTimeout: time.Second})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	<-r.Ready()
	require.ErrorContains(t, r.Run(ctx), "called twice")
	cancel()
	require.NoError(t, <-done)
}

// withSink gives a playbook built outside the harness its audit sink.
func withSink(pb playbook.Playbook) playbook.Playbook {
	pb.Audit = []playbook.AuditSink{audit.Discard}
	return pb
}

// Secrets a source puts in an event's free-form parts never reach the store
// or the audit trail.
func TestRunnerRedactsEventsBeforeStoringThem(t *testing.T) {
	t.Parallel()
	h := playbooktest.New(t, basePlaybook(&recorder{}))
	ev := event("e1", "alice", playbook.RespondLog)
	ev.Attributes["client_secret"] = "s3cr3t-attr"
	ev.Reason = "token seen: Bearer abc.def.ghi"
	ev.Raw = json.RawMessage(`{"user":"alice","password":"hunter2","headers":{"Authorization":"SSWS 00abc"}}`)
	id := h.Fire(ev)
	h.Settle()
	stored := h.Run(id).Event
	everything := fmt.Sprint(stored, h.RunRecords(id))
	for _, secret := range []string{"s3cr3t-attr", "hunter2", "00abc", "abc.def.ghi"} {
		assert.NotContains(t, everything, secret)
	}
	assert.JSONEq(t, `{"user":"alice","password":"[REDACTED]","headers":{"Authorization":"[REDACTED]"}}`, string(stored.Raw))
	assert.Equal(t, "log", stored.Attributes["response"], "what is not secret is kept")
}
