package approve_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/audit"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/playbooktest"
)

// contained counts executions of the containment action.
type contained struct {
	mu sync.Mutex
	n  int
}

func (c *contained) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// rulesPlaybook asks for approval under rule "global-admin" for every
// event, with leadsRules as the approval rule.
func rulesPlaybook(c *contained, approver playbook.Approver) playbook.Playbook {
	disable := playbook.ActionFunc(playbook.ActionDisableUser, func(ctx context.Context, req playbook.ActionRequest) (playbook.ActionResult, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n++
		return playbook.ActionResult{Status: playbook.StatusApplied}, nil
	})
	return playbook.Playbook{
		Name: "approvals",
		Policy: playbook.PolicyFunc(func(ctx context.Context, cs *playbook.Case) (playbook.Decision, error) {
			return playbook.Decision{Response: playbook.RespondApprove, Rule: "test/global-admin", Approval: "global-admin",
				Reason: "Global Administrator signed in from an unfamiliar country", Steps: []playbook.Step{{Action: playbook.ActionDisableUser}}}, nil
		}),
		Actions:      map[string]playbook.Action{playbook.ActionDisableUser: disable},
		ApprovalRule: leadsRules(),
		Approver:     approver,
	}
}

func adminEvent(id string) playbook.Event {
	return playbook.Event{
		ID: id, Type: playbook.EventRiskySignIn, Source: "test", Risk: playbook.RiskHigh, Reason: "impossibleTravel",
		Subject: playbook.Subject{Provider: "entra", ID: "u-lead3", Login: "lead3@example.com", DisplayName: "Lead Three"},
		Actor:   "lead2@example.com",
	}
}

// Each case must end refused (and audited) or denied: none may contain.
func TestSecurityApprovalsRefusedOrDenied(t *testing.T) {
	t.Parallel()
	type step struct {
		after   time.Duration
		who     string
		approve bool
		wantErr error
	}
	tests := []struct {
		name    string
		steps   []step
		wait    time.Duration
		want    playbook.Outcome
		status  playbook.ApprovalStatus
		refused int
	}{
		{name: "self-approval by the subject", steps: []step{{who: "LEAD3@example.com", approve: true, wantErr: playbook.ErrSelfApproval}},
			wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "approval by the actor who caused the event", steps: []step{{who: "lead2@example.com", approve: true, wantErr: playbook.ErrSelfApproval}},
			wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "double vote does not make a quorum", steps: []step{
			{who: "lead1@example.com", approve: true},
			{after: time.Minute, who: "Lead1@Example.com", approve: true, wantErr: playbook.ErrInvalidVerdict},
		}, wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "ineligible approver", steps: []step{{who: "intern@example.com", approve: true, wantErr: approve.ErrIneligible}},
			wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "escalation tier before it is reached", steps: []step{{after: 30 * time.Minute, who: "ciso@example.com", approve: true, wantErr: approve.ErrIneligible}},
			wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "verdict after the timeout", steps: []step{{after: 2 * time.Hour, who: "lead1@example.com", approve: true, wantErr: playbook.ErrApprovalClosed}},
			want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired, refused: 1},
		{name: "quorum not reached at the deadline", steps: []step{{who: "lead1@example.com", approve: true}},
			wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired},
		{name: "nobody answers: denied at the deadline", wait: 2 * time.Hour, want: playbook.OutcomeEscalated, status: playbook.ApprovalExpired},
		{name: "one eligible denial denies", steps: []step{{who: "lead1@example.com", approve: true}, {who: "ciso@example.com", after: time.Hour, approve: false}},
			want: playbook.OutcomeEscalated, status: playbook.ApprovalDenied},
		{name: "verdict after the request was decided", steps: []step{
			{who: "lead1@example.com"},
			{who: "ciso@example.com", after: time.Hour, approve: true, wantErr: playbook.ErrApprovalClosed},
		}, want: playbook.OutcomeEscalated, status: playbook.ApprovalDenied, refused: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := &contained{}
				h := playbooktest.New(t, rulesPlaybook(c, nil))
				id := h.Fire(adminEvent("e1"))
				h.Settle()
				h.RequireWaiting(id)
				for _, s := range tt.steps {
					if s.after > 0 {
						h.Advance(s.after)
					}
					err := h.Runner.Submit(t.Context(), playbook.Verdict{ApprovalID: playbook.ApprovalID(id), Approver: s.who, Approve: s.approve, Channel: "test"})
					h.Settle()
					if s.wantErr != nil {
						require.ErrorIs(t, err, s.wantErr)
						var refused *playbook.VerdictRefusedError
						require.ErrorAs(t, err, &refused)
					} else {
						require.NoError(t, err)
					}
				}
				if tt.wait > 0 {
					h.Advance(tt.wait)
				}
				h.RequireOutcome(id, tt.want)
				assert.Equal(t, tt.status, h.Run(id).Approval.Status)
				assert.Zero(t, c.calls(), "nothing is contained")
				assert.Len(t, h.Records(audit.TypeVerdictRejected), tt.refused, "every refusal is audited")
				if tt.status == playbook.ApprovalExpired {
					exp := h.Records(audit.TypeApprovalExpired)
					require.Len(t, exp, 1, "the expiry is audited")
					assert.Contains(t, exp[0].Data["reason"], "deadline passed")
				}
				h.CheckInvariants()
			})
		})
	}
}

func TestSecurityQuorumAndFallbackContain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		votes []playbook.Verdict
	}{
		{name: "two distinct leads", votes: []playbook.Verdict{{Approver: "lead1@example.com", Approve: true}, {Approver: "lead4@example.com", Approve: true}}},
		{name: "the decisive fallback after escalation", votes: []playbook.Verdict{{Approver: "ciso@example.com", Approve: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c := &contained{}
				pb := rulesPlaybook(c, nil)
				rs := leadsRules()
				r := rs.ByName["global-admin"]
				r.Groups = map[string][]string{"security-leads": {"lead1@example.com", "lead2@example.com", "lead3@example.com", "lead4@example.com"}}
				rs.ByName["global-admin"] = r
				pb.ApprovalRule = rs
				h := playbooktest.New(t, pb)
				id := h.Fire(adminEvent("e1"))
				h.Settle()
				if tt.votes[0].Approver == "ciso@example.com" {
					h.Advance(time.Hour)
				}
				for i, v := range tt.votes {
					if i == len(tt.votes)-1 {
						h.RequireWaiting(id)
					}
					v.ApprovalID, v.Channel = playbook.ApprovalID(id), "test"
					require.NoError(t, h.Runner.Submit(t.Context(), v))
					h.Settle()
				}
				h.RequireOutcome(id, playbook.OutcomeContained)
				assert.Equal(t, 1, c.calls())
				h.CheckInvariants()
			})
		})
	}
}

// Reminders and escalations reach on-call: the webhook follower posts
// them as the schedule says.
func TestSecurityRemindersAndEscalationReachFollower(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c := &contained{}
		f := &noticeLog{}
		h := playbooktest.New(t, rulesPlaybook(c, f))
		id := h.Fire(adminEvent("e1"))
		h.Settle()
		h.Advance(2 * time.Hour)
		h.RequireOutcome(id, playbook.OutcomeEscalated)
		assert.Equal(t, []string{"reminder/0", "escalation/1", "reminder/0", "reminder/0", "settled/0"}, f.kinds())
	})
}

type noticeLog struct {
	mu sync.Mutex
	n  []playbook.ApprovalNotice
}

func (l *noticeLog) Request(ctx context.Context, r playbook.ApprovalRequest) error { return nil }

func (l *noticeLog) Follow(ctx context.Context, n playbook.ApprovalNotice) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n = append(l.n, n)
	return nil
}

func (l *noticeLog) kinds() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, n := range l.n {
		out = append(out, string(n.Kind)+"/"+string(rune('0'+n.Tier)))
	}
	return out
}
