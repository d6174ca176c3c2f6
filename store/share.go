package store

import (
	"bytes"
	"maps"
	"slices"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// snapshotOf returns a deep copy of r to store in place of prev, an
// immutable snapshot. Parts of r equal to prev's (the event, which never
// changes after creation, and usually the decision and approval) are shared
// with prev instead of copied: both snapshots are immutable, so sharing is
// safe, and it saves most of UpdateRun's allocations.
//
// The equality functions below compare every field of the types they
// cover; TestShareCoversEveryField fails when playbook adds a field they do
// not know, so that a new field can never be lost to sharing.
func snapshotOf(r playbook.Run, prev *playbook.Run) playbook.Run {
	r.Event.Attributes = shareMap(r.Event.Attributes, prev.Event.Attributes)
	r.Event.Raw = shareBytes(r.Event.Raw, prev.Event.Raw)
	if r.Decision != nil {
		if prev.Decision != nil && decisionEqual(r.Decision, prev.Decision) {
			r.Decision = prev.Decision
		} else {
			d := r.Decision.Clone()
			r.Decision = &d
		}
	}
	if r.Undo != nil {
		u := *r.Undo
		r.Undo = &u
	}
	if r.Approval != nil {
		if prev.Approval != nil && approvalEqual(r.Approval, prev.Approval) {
			r.Approval = prev.Approval
		} else {
			a := cloneApproval(*r.Approval)
			r.Approval = &a
		}
	}
	return r
}

// cloneRun returns a deep copy of r.
func cloneRun(r playbook.Run) playbook.Run { return r.Clone() }

func cloneApproval(a playbook.Approval) playbook.Approval {
	a.Request.Decision = a.Request.Decision.Clone()
	a.Request.Identities = slices.Clone(a.Request.Identities)
	a.Verdicts = slices.Clone(a.Verdicts)
	a.Notices = slices.Clone(a.Notices)
	return a
}

// shareMap returns prev if it holds what m holds (nil-ness included), else
// a copy of m.
func shareMap(m, prev map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	if prev != nil && maps.Equal(m, prev) {
		return prev
	}
	return maps.Clone(m)
}

// shareBytes returns prev if it holds what b holds (nil-ness included),
// else a copy of b.
func shareBytes(b, prev []byte) []byte {
	if b == nil {
		return nil
	}
	if prev != nil && bytes.Equal(b, prev) {
		return prev
	}
	return bytes.Clone(b)
}

// sameNil reports whether a and b are both nil or both not nil, so that a
// shared value keeps the caller's nil-or-empty distinction.
func sameNil[E any](a, b []E) bool { return (a == nil) == (b == nil) }

// paramsEqual compares two parameter maps, nil-ness included.
func paramsEqual(a, b map[string]string) bool { return (a == nil) == (b == nil) && maps.Equal(a, b) }

func stringsEqual(a, b []string) bool { return sameNil(a, b) && slices.Equal(a, b) }

func decisionEqual(a, b *playbook.Decision) bool {
	if a.Response != b.Response || a.Rule != b.Rule || a.Reason != b.Reason || a.Approval != b.Approval ||
		!stringsEqual(a.Notes, b.Notes) || !sameNil(a.Steps, b.Steps) || len(a.Steps) != len(b.Steps) {
		return false
	}
	for i := range a.Steps {
		sa, sb := &a.Steps[i], &b.Steps[i]
		if sa.Action != sb.Action || !paramsEqual(sa.Params, sb.Params) {
			return false
		}
	}
	return true
}

// approvalEqual compares times with ==, not Equal: a shared snapshot must
// hold the caller's exact value, location included.
func approvalEqual(a, b *playbook.Approval) bool {
	ra, rb := &a.Request, &b.Request
	return a.Status == b.Status && a.DecidedAt == b.DecidedAt &&
		sameNil(a.Verdicts, b.Verdicts) && slices.Equal(a.Verdicts, b.Verdicts) &&
		sameNil(a.Notices, b.Notices) && slices.Equal(a.Notices, b.Notices) &&
		ra.ID == rb.ID && ra.RunID == rb.RunID && ra.Subject == rb.Subject && ra.Actor == rb.Actor &&
		stringsEqual(ra.Identities, rb.Identities) &&
		ra.Risk == rb.Risk && ra.Summary == rb.Summary && ra.SummaryHash == rb.SummaryHash &&
		ra.RequestedAt == rb.RequestedAt && ra.Deadline == rb.Deadline &&
		decisionEqual(&ra.Decision, &rb.Decision)
}
