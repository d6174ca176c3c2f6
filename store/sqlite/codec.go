package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Runs and steps are stored as JSON documents, with the bytes that JSON
// would rewrite (Event.Raw and StepRecord.Result, which encoding/json
// compacts) in columns of their own, byte for byte, and the fields that
// queries select on (state, subject, times, approval status) copied into
// indexed columns.

// nanos returns t as nanoseconds since 1970, clamped to what an int64
// holds (years 1678 to 2262), for the indexed time columns. Order is kept
// except between two times beyond the same end of that range.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanosTime):
		return math.MinInt64
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

var (
	minNanosTime = time.Unix(0, math.MinInt64)
	maxNanosTime = time.Unix(0, math.MaxInt64)
)

// runColumns is what the runs table holds for one run.
type runColumns struct {
	id, state, subject string
	createdNs          int64
	approvalStatus     any // string, or nil without an approval
	deadlineNs         any // int64, or nil without an approval
	data, raw          []byte
}

// encodeRun renders r for storage. Version is not part of the document:
// the version column holds it.
func encodeRun(r playbook.Run) (runColumns, error) {
	c := runColumns{id: r.ID, state: string(r.State), subject: r.Subject, createdNs: nanos(r.CreatedAt)}
	if r.Approval != nil {
		c.approvalStatus = string(r.Approval.Status)
		c.deadlineNs = nanos(r.Approval.Request.Deadline)
	}
	if r.Event.Raw != nil {
		// A non-nil empty payload stays non-nil: an empty BLOB, not NULL.
		c.raw = append(make([]byte, 0, len(r.Event.Raw)), r.Event.Raw...)
	}
	r.Event.Raw = nil
	r.Version = 0
	data, err := json.Marshal(r)
	if err != nil {
		return c, fmt.Errorf("sqlite: encoding run %q: %w", r.ID, err)
	}
	c.data = data
	return c, nil
}

// decodeRun rebuilds a run from its columns. data and raw become the
// run's own memory.
func decodeRun(id string, version int64, data, raw []byte) (playbook.Run, error) {
	var r playbook.Run
	if err := json.Unmarshal(data, &r); err != nil {
		return playbook.Run{}, fmt.Errorf("%w: run %q: decoding the stored run: %v", ErrCorrupt, id, err)
	}
	if id != "" && r.ID != id {
		return playbook.Run{}, fmt.Errorf("%w: run %q: the stored document is run %q", ErrCorrupt, id, r.ID)
	}
	r.Event.Raw = raw
	r.Version = version
	return r, nil
}

// encodeStep renders s for storage; its Result goes to a column of its
// own.
func encodeStep(s playbook.StepRecord) (data, result []byte, err error) {
	if s.Result != nil {
		result = append(make([]byte, 0, len(s.Result)), s.Result...)
	}
	s.Result = nil
	data, err = json.Marshal(s)
	if err != nil {
		return nil, nil, fmt.Errorf("sqlite: encoding step %q of run %q: %w", s.StepID, s.RunID, err)
	}
	return data, result, nil
}

// decodeStep rebuilds a journal entry.
func decodeStep(runID string, data, result []byte) (playbook.StepRecord, error) {
	var s playbook.StepRecord
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("%w: run %q: decoding a stored step: %v", ErrCorrupt, runID, err)
	}
	if s.RunID != runID {
		return playbook.StepRecord{}, fmt.Errorf("%w: run %q: the stored step %q belongs to run %q", ErrCorrupt, runID, s.StepID, s.RunID)
	}
	s.Result = result
	return s, nil
}

// decodeVerdict rebuilds a queued verdict.
func decodeVerdict(seq int64, data []byte) (playbook.InboxVerdict, error) {
	var v playbook.Verdict
	if err := json.Unmarshal(data, &v); err != nil {
		return playbook.InboxVerdict{}, fmt.Errorf("%w: inbox verdict %d: %v", ErrCorrupt, seq, err)
	}
	return playbook.InboxVerdict{Seq: seq, Verdict: v}, nil
}
