package sqlite

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// fuzzRun is a run with every part the codec stores separately.
func fuzzRun() playbook.Run {
	at := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.FixedZone("UTC+2", 7200))
	d := playbook.Decision{Response: playbook.RespondApprove, Rule: "r", Steps: []playbook.Step{{Action: "disable-user", Params: map[string]string{"k": "v"}}}}
	return playbook.Run{ID: "run-1", Subject: "okta:alice", State: playbook.RunWaiting, CreatedAt: at, UpdatedAt: at, Decision: &d,
		Event: playbook.Event{ID: "e1", Type: playbook.EventRiskySignIn, Risk: playbook.RiskHigh, Attributes: map[string]string{"ip": "203.0.113.7"}, Raw: json.RawMessage(`{ "a" : [1, 2.50] }`)},
		Approval: &playbook.Approval{Status: playbook.ApprovalPending, Request: playbook.ApprovalRequest{ID: "apr-run-1", Deadline: at.Add(time.Hour)},
			Verdicts: []playbook.Verdict{{ApprovalID: "apr-run-1", Approver: "lead", Channel: "cli", At: at}}}}
}

// FuzzDecodeRun feeds stored-run documents, real ones and mutations of
// them, to decodeRun: it must return a run or an error wrapping ErrCorrupt,
// never panic, and a run it returns must encode and decode to itself.
func FuzzDecodeRun(f *testing.F) {
	c, err := encodeRun(fuzzRun())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c.data, c.raw)
	f.Add([]byte(`{"id":"run-1"}`), []byte(nil))
	f.Add([]byte(`{"id":"run-1","event":{"risk":"extreme"}}`), []byte(`{}`))
	f.Add([]byte(`{"id":"run-1","created_at":"not a time"}`), []byte(nil))
	f.Add([]byte(`null`), []byte(nil))
	f.Add([]byte{0xff, 0x00}, []byte(nil))
	f.Fuzz(func(t *testing.T, data, raw []byte) {
		r, err := decodeRun("run-1", 3, data, raw)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if r.ID != "run-1" || r.Version != 3 || !bytes.Equal(r.Event.Raw, raw) {
			t.Fatalf("decoded run %q version %d raw %q", r.ID, r.Version, r.Event.Raw)
		}
		c, err := encodeRun(r)
		if err != nil {
			return // a value JSON cannot encode (such as a time past year 9999)
		}
		again, err := decodeRun("run-1", 3, c.data, c.raw)
		if err != nil {
			t.Fatalf("a re-encoded run does not decode: %v", err)
		}
		c2, err := encodeRun(again)
		if err != nil || !bytes.Equal(c.data, c2.data) {
			t.Fatalf("encoding is not stable:\n%s\n%s", c.data, c2.data)
		}
	})
}

// FuzzDecodeStep does the same for journal entries.
func FuzzDecodeStep(f *testing.F) {
	data, result, err := encodeStep(playbook.StepRecord{RunID: "run-1", StepID: "action-0", Kind: playbook.StepAction, Status: playbook.StepDone,
		IdempotencyKey: "run-1/action-0", Attempt: 2, Result: json.RawMessage(`{"status": "done"}`), StartedAt: time.Unix(1, 5)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data, result)
	f.Add([]byte(`{"run_id":"run-2"}`), []byte(nil))
	f.Add([]byte(`{"run_id":"run-1","attempt":"x"}`), []byte(nil))
	f.Add([]byte(`[`), []byte(nil))
	f.Fuzz(func(t *testing.T, data, result []byte) {
		s, err := decodeStep("run-1", data, result)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if s.RunID != "run-1" || !bytes.Equal(s.Result, result) {
			t.Fatalf("decoded step of run %q, result %q", s.RunID, s.Result)
		}
	})
}

// FuzzDecodeVerdict does the same for queued verdicts.
func FuzzDecodeVerdict(f *testing.F) {
	data, err := json.Marshal(playbook.Verdict{ApprovalID: "apr-run-1", Approver: "lead", Approve: true, Channel: "cli", At: time.Unix(1, 5)})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"approve":"yes"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		iv, err := decodeVerdict(7, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if iv.Seq != 7 {
			t.Fatalf("seq %d", iv.Seq)
		}
	})
}

// FuzzCheckHeader feeds file beginnings to the check Open makes before
// SQLite reads a file: it must accept, or refuse with ErrNotDatabase or
// ErrCorrupt, and never panic.
func FuzzCheckHeader(f *testing.F) {
	hdr := make([]byte, 100)
	copy(hdr, sqliteMagic)
	hdr[16], hdr[17] = 0x10, 0x00 // 4096-byte pages
	hdr[31] = 2                   // 2 pages
	f.Add(hdr, int64(8192), int64(0))
	f.Add(hdr, int64(4096), int64(0))
	f.Add(hdr, int64(4096), int64(4096))
	f.Add([]byte("SQLite for"), int64(10), int64(0))
	f.Add([]byte("PK\x03\x04"), int64(4), int64(0))
	f.Fuzz(func(t *testing.T, b []byte, size, walSize int64) {
		if size < int64(len(b)) {
			size = int64(len(b))
		}
		err := checkHeader("runs.db", bytes.NewReader(b), size, walSize)
		if err != nil && !errors.Is(err, ErrNotDatabase) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
