package playbook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

// twoOfLeads is an approver with its own rule: only leads may vote, and two
// approvals (or one denial) settle the request.
type twoOfLeads struct{}

func (twoOfLeads) Request(ctx context.Context, r playbook.ApprovalRequest) error { return nil }

func (twoOfLeads) Evaluate(req playbook.ApprovalRequest, prior []playbook.Verdict, v playbook.Verdict) (playbook.ApprovalStatus, error) {
	if !strings.HasPrefix(v.Approver, "lead") {
		return "", fmt.Errorf("%s is not a security lead", v.Approver)
	}
	if !v.Approve {
		return playbook.ApprovalDenied, nil
	}
	if len(prior) >= 1 {
		return playbook.ApprovalApproved, nil
	}
	return playbook.ApprovalPending, nil
}

func TestRunnerVerdictEvaluator(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(pb *playbook.Playbook)
	}{
		{name: "playbook rule", setup: func(pb *playbook.Playbook) { pb.ApprovalRule = twoOfLeads{} }},
		{name: "approver's own rule", setup: func(pb *playbook.Playbook) { pb.Approver = twoOfLeads{} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &recorder{}
			pb := basePlaybook(rec)
			tt.setup(&pb)
			h := playbooktest.New(t, pb)
			id := h.Fire(event("e1", "alice", playbook.RespondApprove))
			h.Settle()

			err := h.Approve(id, "bob", "I can")
			require.ErrorContains(t, err, "not a security lead", "the rule refuses the verdict")
			require.NoError(t, h.Approve(id, "lead-1", "ok"))
			h.RequireWaiting(id)
			assert.Empty(t, rec.Calls(), "one approval of two is not enough")

			require.ErrorIs(t, h.Approve(id, "LEAD-1", "again"), playbook.ErrInvalidVerdict, "nobody votes twice")
			require.NoError(t, h.Approve(id, "lead-2", "ok"))
			h.RequireOutcome(id, playbook.OutcomeContained)
			assert.Len(t, h.Run(id).Approval.Verdicts, 2)
			assert.Len(t, h.Records(audit.TypeVerdict), 2)
			assert.Len(t, h.Records(audit.TypeVerdictRejected), 2)
			h.CheckInvariants()
		})
	}
}

// failingApprover cannot reach anyone.
type failingApprover struct{}

func (failingApprover) Request(ctx context.Context, r playbook.ApprovalRequest) error {
	return errors.New("chat is down")
}

func TestRunnerApproverFailureStillWaits(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	pb.Approver = failingApprover{}
	h := playbooktest.New(t, pb)
	id := h.Fire(event("e1", "alice", playbook.RespondApprove))
	h.Settle()
	h.RequireWaiting(id)
	var failed []audit.Record
	for _, r := range h.Records(audit.TypeApprovalRequested) {
		if r.Outcome == "notify-failed" {
			failed = append(failed, r)
		}
	}
	require.Len(t, failed, 1, "the failed notification is audited")
	assert.Contains(t, failed[0].Error, "chat is down")
	// A verdict through another channel still counts.
	require.NoError(t, h.Approve(id, "lead", "saw it in the console"))
	h.RequireOutcome(id, playbook.OutcomeContained)
}

// brokenTicketer fails every call.
type brokenTicketer struct {
	mu    sync.Mutex
	calls int
}

func (b *brokenTicketer) Open(ctx context.Context, t audit.Ticket) (string, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	return "", errors.New("ticketing is down")
}
func (b *brokenTicketer) Update(ctx context.Context, ref, note string) error { return nil }
func (b *brokenTicketer) Close(ctx context.Context, ref, res string) error   { return nil }

func TestRunnerTicketOutageNeverBlocksContainment(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	tk := &brokenTicketer{}
	pb.Ticketer = tk
	h := playbooktest.New(t, pb)
	id := h.Fire(event("e1", "alice", playbook.RespondContain))
	h.Settle()
	h.RequireOutcome(id, playbook.OutcomeContained)
	assert.Len(t, rec.Calls(), 2)
	var openFailed int
	for _, r := range h.Records(audit.TypeTicket) {
		if r.Outcome == "open-failed" {
			openFailed++
		}
	}
	assert.Equal(t, 1, openFailed, "the outage is in the audit trail")
}

func TestKeyReadsJournaledValues(t *testing.T) {
	t.Parallel()
	type hr struct {
		Manager string `json:"manager"`
	}
	key := playbook.NewKey[hr]("test.hr")
	other := playbook.NewKey[int]("test.hr")
	c := playbook.NewCase("r", playbook.Event{})
	c.RestoreExtensions(map[string]json.RawMessage{"test.hr": json.RawMessage(`{"manager":"carol"}`)})
	_, ok := other.Get(c)
	assert.False(t, ok, "a value that does not decode into the key's type is absent, not a panic")
	v, ok := key.Get(c)
	require.True(t, ok)
	assert.Equal(t, "carol", v.Manager)
	assert.Equal(t, "test.hr", key.Name())
	_, ok = playbook.NewKey[string]("test.missing").Get(c)
	assert.False(t, ok)
}

func TestRunnerQuorumNotReachedAtDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		pb := basePlaybook(rec)
		pb.ApprovalRule = twoOfLeads{}
		pb.ApprovalTimeout = time.Hour
		h := playbooktest.New(t, pb)
		id := h.Fire(event("e1", "alice", playbook.RespondApprove))
		h.Settle()
		require.NoError(t, h.Approve(id, "lead-1", "ok"))
		h.Advance(time.Hour)
		h.RequireOutcome(id, playbook.OutcomeEscalated)
		assert.Equal(t, playbook.ApprovalExpired, h.Run(id).Approval.Status)
		assert.Empty(t, rec.Calls(), "half a quorum never contains")
	})
}

// The subject may be known by more names than the event carried: the
// enriched profile's e-mail address cannot approve either.
func TestRunnerRefusesApprovalByTheSubjectsOtherNames(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	pb := basePlaybook(rec)
	pb.Enricher = playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		c.Update(func(f *playbook.Facts) {
			f.Profile = &playbook.Profile{ID: "alice", Login: "alice@corp.onmicrosoft.example", Email: "Alice.Smith@corp.example"}
		})
		return nil
	})
	h := playbooktest.New(t, pb)
	id := h.Fire(event("e1", "alice", playbook.RespondApprove))
	h.Settle()
	req := h.RequireWaiting(id)
	assert.Contains(t, req.Identities, "Alice.Smith@corp.example")
	for _, who := range []string{"alice.smith@corp.example", "ALICE@corp.onmicrosoft.example"} {
		require.ErrorIs(t, h.Approve(id, who, "it's me"), playbook.ErrSelfApproval, who)
	}
	h.RequireWaiting(id)
	assert.Empty(t, rec.Calls())
}

// A signal that names its subject by id only (an Okta target without
// alternateId, a Graph record with just a user id) still shows approvers
// who the case is about, from the enriched profile.
func TestApprovalRequestNamesTheSubjectFromTheProfile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		subject   playbook.Subject
		profile   *playbook.Profile
		wantLogin string
		wantName  string
	}{
		{"names from the profile", playbook.Subject{Provider: "okta", ID: "00u1"},
			&playbook.Profile{ID: "00u1", Login: "root@example.com", DisplayName: "Root Admin"}, "root@example.com", "Root Admin"},
		{"e-mail when the profile has no login", playbook.Subject{Provider: "okta", ID: "00u1"},
			&playbook.Profile{ID: "00u1", Email: "root@example.com"}, "root@example.com", ""},
		{"the event's own names win", playbook.Subject{Provider: "okta", ID: "00u1", Login: "r@example.com", DisplayName: "R"},
			&playbook.Profile{ID: "00u1", Login: "root@example.com", DisplayName: "Root Admin"}, "r@example.com", "R"},
		{"no profile, id only", playbook.Subject{Provider: "okta", ID: "00u1"}, nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pb := basePlaybook(&recorder{})
			pb.Enricher = playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
				c.Facts.Profile = tt.profile
				return nil
			})
			h := playbooktest.New(t, pb)
			ev := event("e1", "x", playbook.RespondApprove)
			ev.Subject = tt.subject
			id := h.Fire(ev)
			h.Settle()
			req := h.RequireWaiting(id)
			assert.Equal(t, tt.wantLogin, req.Subject.Login)
			assert.Equal(t, tt.wantName, req.Subject.DisplayName)
			assert.Equal(t, tt.subject.Key(), req.Subject.Key(), "the subject stays the same account")
			if tt.wantLogin != "" {
				assert.Contains(t, req.Summary, tt.wantLogin)
			}
		})
	}
}
