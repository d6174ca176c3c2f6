package playbook_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// scheduled is an approval rule with a fixed schedule per approval rule
// name; the first verdict decides. Unknown names are refused.
type scheduled struct {
	byName map[string]playbook.ApprovalSchedule
	// invalid, when set, is what Validate returns.
	invalid error
}

func (s scheduled) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	if v.Approve {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalDenied, nil
}

func (s scheduled) ApprovalSchedule(d playbook.Decision) (playbook.ApprovalSchedule, error) {
	sc, ok := s.byName[d.Approval]
	if !ok {
		return playbook.ApprovalSchedule{}, fmt.Errorf("no approval rule named %q", d.Approval)
	}
	return sc, nil
}

func (s scheduled) Validate() error { return s.invalid }

// follower records the notices it is told, and fails when fail is set.
type follower struct {
	mu      sync.Mutex
	notices []playbook.ApprovalNotice
	fail    error
}

func (f *follower) Request(ctx context.Context, r playbook.ApprovalRequest) error { return nil }

func (f *follower) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.notices = append(f.notices, n)
	return f.fail
}

// got lists the notices as "kind/tier@offset" from start.
func (f *follower) got(start time.Time) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, n := range f.notices {
		out = append(out, fmt.Sprintf("%s/%d@%s", n.Kind, n.Tier, n.At.Sub(start)))
	}
	return out
}

// namedPolicy asks for approval under the rule named by the event's
// "approval" attribute.
var namedPolicy = playbook.PolicyFunc(func(ctx context.Context, c *playbook.Case) (playbook.Decision, error) {
	return playbook.Decision{Response: playbook.RespondApprove, Rule: "test/approve", Approval: c.Event.Attributes["approval"],
		Steps: []playbook.Step{{Action: "disable-user"}}}, nil
})

type approvalNamingPolicy struct {
	playbook.PolicyFunc
	names []string
}

func (p approvalNamingPolicy) ApprovalNames() []string { return p.names }

func namedEvent(id, approval string) playbook.Event {
	ev := event(id, "alice", playbook.RespondApprove)
	ev.Attributes["approval"] = approval
	return ev
}

func schedulePlaybook(rec *recorder, f *follower, s scheduled) playbook.Playbook {
	pb := basePlaybook(rec)
	pb.Policy = namedPolicy
	pb.Approver = f
	pb.ApprovalRule = s
	pb.ApprovalTimeout = 4 * time.Hour
	return pb
}

func TestApprovalScheduleNotices(t *testing.T) {
	t.Parallel()
	full := playbook.ApprovalSchedule{Timeout: 4 * time.Hour, RemindEvery: time.Hour, Escalations: []time.Duration{90 * time.Minute, 150 * time.Minute}}
	tests := []struct {
		name     string
		sched    playbook.ApprovalSchedule
		deadline time.Duration
		want     []string
	}{
		{name: "no schedule: the playbook's timeout, no notices", deadline: 4 * time.Hour, want: []string{}},
		{name: "rule's own deadline", sched: playbook.ApprovalSchedule{Timeout: 30 * time.Minute}, deadline: 30 * time.Minute, want: []string{}},
		{name: "reminders stop before the deadline", sched: playbook.ApprovalSchedule{Timeout: 3 * time.Hour, RemindEvery: time.Hour}, deadline: 3 * time.Hour,
			want: []string{"reminder/0@1h0m0s", "reminder/0@2h0m0s"}},
		{name: "reminders and escalation tiers", sched: full, deadline: 4 * time.Hour,
			want: []string{"reminder/0@1h0m0s", "escalation/1@1h30m0s", "reminder/0@2h0m0s", "escalation/2@2h30m0s", "reminder/0@3h0m0s"}},
		{name: "a tier at the deadline is never told", sched: playbook.ApprovalSchedule{Timeout: time.Hour, Escalations: []time.Duration{time.Hour}}, deadline: time.Hour, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rec, f := &recorder{}, &follower{}
				h := playbooktest.New(t, schedulePlaybook(rec, f, scheduled{byName: map[string]playbook.ApprovalSchedule{"x": tt.sched}}))
				start := time.Now().UTC()
				id := h.Fire(namedEvent("e1", "x"))
				h.Settle()
				req := h.RequireWaiting(id)
				assert.Equal(t, tt.deadline, req.Deadline.Sub(req.RequestedAt), "the deadline comes from the rule")

				h.Advance(tt.deadline - time.Second)
				h.RequireWaiting(id)
				h.Advance(time.Second)
				h.RequireOutcome(id, playbook.OutcomeEscalated)
				assert.Empty(t, rec.Calls(), "an unanswered request never contains")

				got := f.got(start)
				require.NotEmpty(t, got)
				assert.Equal(t, "settled/0@"+tt.deadline.String(), got[len(got)-1])
				assert.Equal(t, tt.want, slices.DeleteFunc(slices.Clone(got), func(s string) bool { return strings.HasPrefix(s, "settled") }), "notices before the deadline")
				audited := []string{}
				for _, r := range h.Records(audit.TypeApprovalNotice) {
					if r.Outcome == "reminder" || r.Outcome == "escalation" {
						audited = append(audited, fmt.Sprintf("%s/%v@%s", r.Outcome, r.Data["tier"], r.Time.Sub(start)))
					}
				}
				assert.Equal(t, tt.want, audited, "every notice is audited")
				assert.Len(t, h.Run(id).Approval.Notices, len(tt.want), "every notice is recorded on the run")
				h.CheckInvariants()
			})
		})
	}
}

func TestApprovalNoticesStopWhenSettled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec, f := &recorder{}, &follower{}
		s := scheduled{byName: map[string]playbook.ApprovalSchedule{"x": {Timeout: 4 * time.Hour, RemindEvery: time.Hour, Escalations: []time.Duration{90 * time.Minute}}}}
		h := playbooktest.New(t, schedulePlaybook(rec, f, s))
		start := time.Now().UTC()
		id := h.Fire(namedEvent("e1", "x"))
		h.Settle()
		h.Advance(time.Hour)
		require.NoError(t, h.Approve(id, "lead", "ok"))
		h.RequireOutcome(id, playbook.OutcomeContained)
		h.Advance(4 * time.Hour)
		assert.Equal(t, []string{"reminder/0@1h0m0s", "settled/0@1h0m0s"}, f.got(start), "no reminder or escalation after the verdict")
	})
}

// Notices survive a restart: those sent are not sent again, those that fell
// due while no runner ran are sent once (one reminder, every tier), and one
// whose delivery began but was never recorded as done is sent again.
func TestApprovalNoticesSurviveRestart(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		st := store.NewMemory()
		opts := playbooktest.Options{Runner: playbook.Options{Store: st}}
		s := scheduled{byName: map[string]playbook.ApprovalSchedule{"x": {Timeout: 6 * time.Hour, RemindEvery: time.Hour, Escalations: []time.Duration{90 * time.Minute, 150 * time.Minute}}}}
		rec := &recorder{}
		f1 := &follower{}
		h1 := playbooktest.New(t, schedulePlaybook(rec, f1, s), opts)
		start := time.Now().UTC()
		id := h1.Fire(namedEvent("e1", "x"))
		h1.Settle()
		h1.Advance(time.Hour)
		h1.Close()
		assert.Equal(t, []string{"reminder/0@1h0m0s"}, f1.got(start))

		// Down from 1h to 2h40m: reminder 2h and tiers 1 and 2 fell due.
		time.Sleep(100 * time.Minute)
		f2 := &follower{}
		h2 := playbooktest.New(t, schedulePlaybook(rec, f2, s), opts)
		h2.Settle()
		assert.ElementsMatch(t, []string{"escalation/1@2h40m0s", "escalation/2@2h40m0s", "reminder/0@2h40m0s"}, f2.got(start),
			"what fell due while down is sent once; the 1h reminder is not repeated")
		h2.Close()

		// A delivery that began but was not recorded as done (a crash
		// mid-Follow) is sent again by the next runner.
		run, err := st.GetRun(t.Context(), id)
		require.NoError(t, err)
		notices := run.Approval.Notices
		require.Len(t, notices, 4)
		notices[len(notices)-1].SentAt = time.Time{}
		run.Approval.Notices = notices
		_, err = st.UpdateRun(t.Context(), run)
		require.NoError(t, err)
		f3 := &follower{}
		h3 := playbooktest.New(t, schedulePlaybook(rec, f3, s), opts)
		h3.Settle()
		assert.Len(t, f3.got(start), 1, "the unfinished delivery is repeated, nothing else")
		h3.Advance(20 * time.Minute)
		assert.Equal(t, "reminder/0@3h0m0s", f3.got(start)[1], "the schedule goes on")
		h3.Advance(3 * time.Hour)
		h3.RequireOutcome(id, playbook.OutcomeEscalated)
	})
}

func TestApprovalNoticeFailureIsAudited(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec, f := &recorder{}, &follower{fail: errors.New("pager is down")}
		s := scheduled{byName: map[string]playbook.ApprovalSchedule{"x": {Timeout: 2 * time.Hour, Escalations: []time.Duration{time.Hour}}}}
		h := playbooktest.New(t, schedulePlaybook(rec, f, s))
		id := h.Fire(namedEvent("e1", "x"))
		h.Settle()
		h.Advance(time.Hour)
		var failed []audit.Record
		for _, r := range h.Records(audit.TypeApprovalNotice) {
			if r.Outcome == "escalation-failed" {
				failed = append(failed, r)
			}
		}
		require.Len(t, failed, 1)
		assert.Contains(t, failed[0].Error, "pager is down")
		n := h.Run(id).Approval.Notices
		require.Len(t, n, 1)
		assert.Contains(t, n[0].Error, "pager is down")
		h.Advance(time.Hour)
		h.RequireOutcome(id, playbook.OutcomeEscalated)
		assert.Len(t, f.got(time.Time{}), 2, "a failed notice is not retried in a loop: escalation, then settled")
	})
}

func TestApprovalRuleValidation(t *testing.T) {
	t.Parallel()
	ok := scheduled{byName: map[string]playbook.ApprovalSchedule{"leads": {}}}
	tests := []struct {
		name    string
		rule    scheduled
		policy  playbook.Policy
		wantErr string
	}{
		{name: "valid", rule: ok, policy: approvalNamingPolicy{namedPolicy, []string{"leads"}}},
		{name: "rule's Validate fails", rule: scheduled{invalid: errors.New("quorum 3 of 2 approvers")}, policy: namedPolicy, wantErr: "quorum 3 of 2 approvers"},
		{name: "policy names an undefined rule", rule: ok, policy: approvalNamingPolicy{namedPolicy, []string{"leads", "ciso"}}, wantErr: `approval rule "ciso"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb := basePlaybook(&recorder{})
			pb.Policy = tt.policy
			pb.ApprovalRule = tt.rule
			pb.Audit = []playbook.AuditSink{audit.NewMemory()}
			_, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory()})
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, playbook.ErrInvalidPlaybook)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// A decision that names a rule nobody defined is caught at the first run:
// the run escalates with an error naming the rule, and never waits.
func TestApprovalUnknownRuleEscalates(t *testing.T) {
	t.Parallel()
	rec, f := &recorder{}, &follower{}
	h := playbooktest.New(t, schedulePlaybook(rec, f, scheduled{byName: map[string]playbook.ApprovalSchedule{"leads": {}}}))
	id := h.Fire(namedEvent("e1", "typo-leads"))
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeEscalated)
	run := h.Run(id)
	assert.Nil(t, run.Approval)
	assert.Contains(t, run.Error, `approval rule "typo-leads"`)
	assert.Empty(t, rec.Calls())
}

func TestApprovalScheduleValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    playbook.ApprovalSchedule
		ok   bool
	}{
		{name: "zero", ok: true},
		{name: "ordered tiers", s: playbook.ApprovalSchedule{Escalations: []time.Duration{time.Minute, time.Hour}}, ok: true},
		{name: "negative timeout", s: playbook.ApprovalSchedule{Timeout: -1}},
		{name: "negative reminder", s: playbook.ApprovalSchedule{RemindEvery: -1}},
		{name: "tier at zero", s: playbook.ApprovalSchedule{Escalations: []time.Duration{0}}},
		{name: "tiers out of order", s: playbook.ApprovalSchedule{Escalations: []time.Duration{time.Hour, time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.s.Validate()
			if tt.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
		})
	}
}

// The rule's own error stays in the chain, so hosts can test for it.
func TestApprovalRuleValidationWraps(t *testing.T) {
	t.Parallel()
	bad := errors.New("quorum unreachable")
	pb := basePlaybook(&recorder{})
	pb.ApprovalRule = scheduled{invalid: bad}
	pb.Audit = []playbook.AuditSink{audit.NewMemory()}
	_, err := playbook.NewRunner(pb, playbook.Options{Store: store.NewMemory()})
	require.ErrorIs(t, err, playbook.ErrInvalidPlaybook)
	require.ErrorIs(t, err, bad)
}
