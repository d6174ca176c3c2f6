package store

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// TestShareCoversEveryField fails when a playbook type that snapshotOf
// compares field by field gains or loses a field: the equality functions
// in share.go must then learn it, or an update changing only that field
// would be lost to sharing.
func TestShareCoversEveryField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		typ  reflect.Type
		want []string
	}{
		{reflect.TypeFor[playbook.Decision](), []string{"Response", "Steps", "Rule", "Reason", "Approval", "Notes"}},
		{reflect.TypeFor[playbook.Step](), []string{"Action", "Params"}},
		{reflect.TypeFor[playbook.Approval](), []string{"Request", "Status", "Verdicts", "DecidedAt", "Notices"}},
		{reflect.TypeFor[playbook.ApprovalRequest](), []string{"ID", "RunID", "Subject", "Actor", "Identities", "Risk", "Decision", "Summary", "SummaryHash", "RequestedAt", "Deadline"}},
		// Compared with ==, which needs them comparable.
		{reflect.TypeFor[playbook.Verdict](), []string{"ApprovalID", "Approver", "Approve", "Reason", "Channel", "SummaryHash", "At"}},
		{reflect.TypeFor[playbook.Subject](), []string{"Provider", "ID", "Login", "DisplayName"}},
	}
	for _, tc := range tests {
		t.Run(tc.typ.Name(), func(t *testing.T) {
			t.Parallel()
			var got []string
			for f := range tc.typ.Fields() {
				got = append(got, f.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("playbook.%s has fields %q; share.go compares %q: update decisionEqual/approvalEqual and this list",
					tc.typ.Name(), got, tc.want)
			}
		})
	}
}

func TestSnapshotOfSharesOnlyEqualParts(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	prevRun := func() playbook.Run {
		d := playbook.Decision{
			Response: playbook.RespondApprove, Rule: "r", Reason: "why", Approval: "leads",
			Steps: []playbook.Step{{Action: "revoke"}, {Action: "remove-role", Params: map[string]string{"role": "admin"}}},
			Notes: []string{"n1"},
		}
		return playbook.Run{
			ID: "run-1",
			Event: playbook.Event{
				Attributes: map[string]string{"ip": "203.0.113.7"},
				Raw:        json.RawMessage(`{"a":1}`),
			},
			Decision: &d,
			Approval: &playbook.Approval{
				Request:  playbook.ApprovalRequest{ID: "apr", Decision: d.Clone(), Deadline: at},
				Status:   playbook.ApprovalPending,
				Verdicts: []playbook.Verdict{{Approver: "a", At: at}},
			},
			Version: 1,
		}
	}
	type shared struct{ attrs, raw, decision, approval bool }
	tests := []struct {
		name   string
		change func(r *playbook.Run)
		want   shared
	}{
		{"unchanged", func(*playbook.Run) {}, shared{true, true, true, true}},
		{"state only", func(r *playbook.Run) { r.State = playbook.RunDone }, shared{true, true, true, true}},
		{"attribute changed", func(r *playbook.Run) { r.Event.Attributes["ip"] = "x" }, shared{false, true, true, true}},
		{"attributes emptied", func(r *playbook.Run) { r.Event.Attributes = map[string]string{} }, shared{false, true, true, true}},
		{"raw changed", func(r *playbook.Run) { r.Event.Raw = json.RawMessage(`{"a":2}`) }, shared{true, false, true, true}},
		{"note added", func(r *playbook.Run) { r.Decision.Notes = append(r.Decision.Notes, "n2") }, shared{true, true, false, true}},
		{"notes nil", func(r *playbook.Run) { r.Decision.Notes = nil }, shared{true, true, false, true}},
		{"param changed", func(r *playbook.Run) { r.Decision.Steps[1].Params["role"] = "x" }, shared{true, true, false, true}},
		{"params nil to empty", func(r *playbook.Run) { r.Decision.Steps[0].Params = map[string]string{} }, shared{true, true, false, true}},
		{"step action changed", func(r *playbook.Run) { r.Decision.Steps[0].Action = "disable" }, shared{true, true, false, true}},
		{"rule changed", func(r *playbook.Run) { r.Decision.Rule = "other" }, shared{true, true, false, true}},
		{"verdict added", func(r *playbook.Run) {
			r.Approval.Verdicts = append(r.Approval.Verdicts, playbook.Verdict{Approver: "b", At: at})
		}, shared{true, true, true, false}},
		{"status changed", func(r *playbook.Run) { r.Approval.Status = playbook.ApprovalApproved }, shared{true, true, true, false}},
		{"notice recorded", func(r *playbook.Run) {
			r.Approval.Notices = append(r.Approval.Notices, playbook.NoticeRecord{Kind: playbook.NoticeReminder, Due: at})
		}, shared{true, true, true, false}},
		{"deadline location changed", func(r *playbook.Run) {
			r.Approval.Request.Deadline = at.In(time.FixedZone("X", 3600))
		}, shared{true, true, true, false}},
		{"request decision changed", func(r *playbook.Run) { r.Approval.Request.Decision.Reason = "x" }, shared{true, true, true, false}},
		{"decision removed", func(r *playbook.Run) { r.Decision = nil }, shared{true, true, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			prev := prevRun()
			r := cloneRun(prev)
			tc.change(&r)
			want := cloneRun(r)
			got := snapshotOf(r, &prev)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("snapshot differs from the run it copies:\n got %+v\nwant %+v", got, want)
			}
			gotShared := shared{
				attrs:    got.Event.Attributes != nil && reflect.ValueOf(got.Event.Attributes).UnsafePointer() == reflect.ValueOf(prev.Event.Attributes).UnsafePointer(),
				raw:      len(got.Event.Raw) > 0 && &got.Event.Raw[0] == &prev.Event.Raw[0],
				decision: got.Decision != nil && got.Decision == prev.Decision,
				approval: got.Approval != nil && got.Approval == prev.Approval,
			}
			if gotShared != tc.want {
				t.Errorf("shared parts = %+v, want %+v", gotShared, tc.want)
			}
			// Whatever was not shared must not alias the caller's r.
			if !gotShared.attrs && got.Event.Attributes != nil &&
				reflect.ValueOf(got.Event.Attributes).UnsafePointer() == reflect.ValueOf(r.Event.Attributes).UnsafePointer() {
				t.Error("snapshot aliases the caller's Attributes")
			}
			if !gotShared.decision && got.Decision != nil && got.Decision == r.Decision {
				t.Error("snapshot aliases the caller's Decision")
			}
			if !gotShared.approval && got.Approval != nil && got.Approval == r.Approval {
				t.Error("snapshot aliases the caller's Approval")
			}
		})
	}
}
