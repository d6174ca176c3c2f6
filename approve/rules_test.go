package approve_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// leadsRules: the default rule lets the on-call approve alone; the
// "global-admin" rule needs two security leads, tells the CISO after an
// hour, and lets the CISO settle alone from then on.
func leadsRules() approve.Rules {
	return approve.Rules{
		Default: approve.Rule{Eligible: []string{"oncall@example.com"}, Deadline: 4 * time.Hour},
		ByName: map[string]approve.Rule{
			"global-admin": {
				Groups:      map[string][]string{"security-leads": {"lead1@example.com", "lead2@example.com", "lead3@example.com"}},
				Quorum:      2,
				Deadline:    2 * time.Hour,
				RemindEvery: 30 * time.Minute,
				Escalation:  []approve.Tier{{After: time.Hour, Approvers: []string{"ciso@example.com"}, Decisive: true}},
			},
		},
	}
}

func request(rule string) playbook.ApprovalRequest {
	return playbook.ApprovalRequest{
		ID: "r1:approval", RunID: "r1", Subject: playbook.Subject{Provider: "entra", ID: "u1", Login: "lead3@example.com"},
		Actor: "it-ops@example.com", Identities: []string{"u1", "lead3@example.com"},
		Decision:    playbook.Decision{Response: playbook.RespondApprove, Rule: "matrix/high-privileged", Approval: rule},
		RequestedAt: t0, Deadline: t0.Add(2 * time.Hour),
	}
}

func verdict(who string, ok bool, after time.Duration) playbook.Verdict {
	return playbook.Verdict{ApprovalID: "r1:approval", Approver: who, Approve: ok, Channel: "test", At: t0.Add(after)}
}

func TestRulesValidate(t *testing.T) {
	t.Parallel()
	one := []string{"a@example.com"}
	tests := []struct {
		name    string
		rules   approve.Rules
		wantErr string
	}{
		{name: "valid", rules: leadsRules()},
		{name: "nothing defined", rules: approve.Rules{}, wantErr: "no rule is defined"},
		{name: "nobody eligible", rules: approve.Rules{ByName: map[string]approve.Rule{"x": {Quorum: 1}}}, wantErr: `rule "x": invalid approval rule: nobody is eligible`},
		{name: "empty identity", rules: approve.Rules{Default: approve.Rule{Eligible: []string{" "}}}, wantErr: "Eligible[0] is empty"},
		{name: "empty group", rules: approve.Rules{Default: approve.Rule{Groups: map[string][]string{"leads": nil}}}, wantErr: `group "leads" has no members`},
		{name: "unreachable quorum", rules: approve.Rules{Default: approve.Rule{Eligible: []string{"a", "A "}, Quorum: 2}}, wantErr: "Quorum 2 exceeds the 1 distinct eligible approvers"},
		{name: "negative quorum", rules: approve.Rules{Default: approve.Rule{Eligible: one, Quorum: -1}}, wantErr: "Quorum is negative"},
		{name: "negative deadline", rules: approve.Rules{Default: approve.Rule{Eligible: one, Deadline: -time.Second}}, wantErr: "Deadline is negative"},
		{name: "reminder storm", rules: approve.Rules{Default: approve.Rule{Eligible: one, RemindEvery: time.Second}}, wantErr: "RemindEvery is 1s"},
		{name: "tiers out of order", rules: approve.Rules{Default: approve.Rule{Eligible: one, Escalation: []approve.Tier{{After: time.Hour, Approvers: one}, {After: time.Minute, Approvers: one}}}}, wantErr: "Escalation[1].After"},
		{name: "tier after the deadline", rules: approve.Rules{Default: approve.Rule{Eligible: one, Deadline: time.Hour, Escalation: []approve.Tier{{After: time.Hour, Approvers: one}}}}, wantErr: "never be told"},
		{name: "tier names nobody", rules: approve.Rules{Default: approve.Rule{Eligible: one, Escalation: []approve.Tier{{After: time.Minute}}}}, wantErr: "Escalation[0] names nobody"},
		{name: "empty rule name", rules: approve.Rules{ByName: map[string]approve.Rule{"": {Eligible: one}}}, wantErr: "empty name"},
		{name: "quorum reachable with tiers", rules: approve.Rules{Default: approve.Rule{Eligible: one, Quorum: 2, Escalation: []approve.Tier{{After: time.Minute, Approvers: []string{"b"}}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.rules.Validate()
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, approve.ErrInvalidRule)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

func TestRulesEvaluate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		rule    string
		prior   []playbook.Verdict
		v       playbook.Verdict
		want    playbook.ApprovalStatus
		wantErr error
		errText string
	}{
		{name: "default rule: one approval settles", v: verdict("oncall@example.com", true, time.Minute), want: playbook.ApprovalApproved},
		{name: "identities compare case-insensitively", v: verdict(" OnCall@Example.com", true, time.Minute), want: playbook.ApprovalApproved},
		{name: "not listed", v: verdict("intern@example.com", true, time.Minute), wantErr: approve.ErrIneligible, errText: "not an approver under the default rule"},
		{name: "first of a quorum of two waits", rule: "global-admin", v: verdict("lead1@example.com", true, time.Minute), want: playbook.ApprovalPending},
		{name: "second distinct lead settles", rule: "global-admin", prior: []playbook.Verdict{verdict("lead1@example.com", true, time.Minute)},
			v: verdict("lead2@example.com", true, 2*time.Minute), want: playbook.ApprovalApproved},
		{name: "one denial denies", rule: "global-admin", prior: []playbook.Verdict{verdict("lead1@example.com", true, time.Minute)},
			v: verdict("lead2@example.com", false, 2*time.Minute), want: playbook.ApprovalDenied},
		{name: "group member who is the subject is refused", rule: "global-admin", v: verdict("lead3@example.com", true, time.Minute),
			wantErr: approve.ErrIneligible, errText: "party to the case"},
		{name: "default approver is not eligible under a named rule", rule: "global-admin", v: verdict("oncall@example.com", true, time.Minute),
			wantErr: approve.ErrIneligible, errText: `not an approver under rule "global-admin"`},
		{name: "tier not reached yet", rule: "global-admin", v: verdict("ciso@example.com", true, 59*time.Minute),
			wantErr: approve.ErrIneligible, errText: "escalation tier"},
		{name: "decisive fallback settles alone once reached", rule: "global-admin", v: verdict("ciso@example.com", true, time.Hour), want: playbook.ApprovalApproved},
		{name: "fallback approval counts toward quorum too", rule: "global-admin", prior: []playbook.Verdict{verdict("lead1@example.com", true, time.Minute)},
			v: verdict("ciso@example.com", true, 90*time.Minute), want: playbook.ApprovalApproved},
		{name: "unknown rule", rule: "typo", v: verdict("oncall@example.com", true, time.Minute), wantErr: approve.ErrUnknownRule, errText: `"typo" (defined: global-admin)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := leadsRules().Evaluate(request(tt.rule), tt.prior, tt.v)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assert.ErrorContains(t, err, tt.errText)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestRulesScheduleAndRecipients(t *testing.T) {
	t.Parallel()
	rs := leadsRules()
	s, err := rs.ApprovalSchedule(playbook.Decision{Approval: "global-admin"})
	require.NoError(t, err)
	assert.Equal(t, playbook.ApprovalSchedule{Timeout: 2 * time.Hour, RemindEvery: 30 * time.Minute, Escalations: []time.Duration{time.Hour}}, s)
	_, err = rs.ApprovalSchedule(playbook.Decision{Approval: "nope"})
	require.ErrorIs(t, err, approve.ErrUnknownRule)
	_, err = approve.Rules{ByName: map[string]approve.Rule{"x": {Eligible: []string{"a"}}}}.ApprovalSchedule(playbook.Decision{})
	require.ErrorIs(t, err, approve.ErrUnknownRule, "no default rule")

	req := request("global-admin")
	tests := []struct {
		name  string
		kind  playbook.NoticeKind
		tier  int
		voted []playbook.Verdict
		at    time.Duration
		want  []string
	}{
		{name: "new request: the group, without the subject", want: []string{"lead1@example.com", "lead2@example.com"}},
		{name: "reminder skips those who voted", kind: playbook.NoticeReminder, voted: []playbook.Verdict{verdict("LEAD1@example.com", true, 0)}, at: 30 * time.Minute,
			want: []string{"lead2@example.com"}},
		{name: "reminder after escalation includes the tier", kind: playbook.NoticeReminder, at: 90 * time.Minute,
			want: []string{"lead1@example.com", "lead2@example.com", "ciso@example.com"}},
		{name: "escalation: the tier only", kind: playbook.NoticeEscalation, tier: 1, at: time.Hour, want: []string{"ciso@example.com"}},
		{name: "no such tier", kind: playbook.NoticeEscalation, tier: 2, at: time.Hour},
		{name: "settled: nobody", kind: playbook.NoticeSettled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := rs.Recipients(req, tt.kind, tt.tier, tt.voted, t0.Add(tt.at))
			require.NoError(t, err)
			if len(tt.want) == 0 {
				assert.Empty(t, got)
				return
			}
			assert.Equal(t, tt.want, got)
		})
	}
}
