package audittest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iamplaybook/iamplaybook/audit"
)

// NewSinkFunc builds a fresh, empty sink for one case and returns it with a
// function that reads back every record the sink has stored so far, in
// stored order. The read-back may go through the sink's storage (re-read a
// file); it may call t.Fatal. Register cleanup (Close) with t.Cleanup.
type NewSinkFunc func(t *testing.T) (sink audit.Sink, stored func() []audit.Record)

// TestSink runs the conformance cases against sinks built by newSink. Each
// case runs as a parallel subtest with its own sink.
func TestSink(t *testing.T, newSink NewSinkFunc) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			t.Log("rule:", c.rule)
			sink, stored := newSink(t)
			c.run(t, sink, stored)
		})
	}
}

type sinkCase struct {
	name string
	rule string
	run  func(t *testing.T, sink audit.Sink, stored func() []audit.Record)
}

var cases = []sinkCase{
	{
		name: "StoresInOrder",
		rule: "records written one after another by one goroutine are stored in that order, none lost or duplicated",
		run:  testInOrder,
	},
	{
		name: "ConcurrentWritersLoseNothing",
		rule: "Record is safe for concurrent use: 8 goroutines x 200 records are all stored exactly once, and each writer's records keep their order",
		run:  testConcurrent,
	},
	{
		name: "SecretsNeverStored",
		rule: "a sink stores the redacted record: secret-looking keys and bearer tokens inside values never reach storage",
		run:  testSecrets,
	},
	{
		name: "CancelledContextHonouredOrStored",
		rule: "a record written with a cancelled context is either refused with the context's error or stored whole; never half, and the sink keeps working",
		run:  testCancelled,
	},
	{
		name: "DataRoundTrips",
		rule: "the fields and the (JSON-encodable) data values of a record are stored unchanged, up to JSON number representation",
		run:  testRoundTrip,
	},
	{
		name: "InputNotModified",
		rule: "Record never modifies the caller's record or its Data, not even to redact it",
		run:  testInputNotModified,
	},
}

var baseTime = time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)

func rec(i int, eventID string) audit.Record {
	return audit.Record{
		Time:    baseTime.Add(time.Duration(i) * time.Millisecond),
		Type:    audit.TypeActionResult,
		RunID:   "run-1",
		EventID: eventID,
		Subject: "fake:user-1",
		Actor:   "system",
		Data:    map[string]any{"i": i},
	}
}

func testInOrder(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	const n = 50
	for i := range n {
		if err := sink.Record(t.Context(), rec(i, fmt.Sprintf("e-%03d", i))); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	got := stored()
	if len(got) != n {
		t.Fatalf("stored %d records, want %d", len(got), n)
	}
	for i, r := range got {
		if want := fmt.Sprintf("e-%03d", i); r.EventID != want {
			t.Fatalf("record %d: EventID %q, want %q", i, r.EventID, want)
		}
	}
}

func testConcurrent(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	const writers, per = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, writers*per)
	for w := range writers {
		wg.Go(func() {
			for i := range per {
				if err := sink.Record(t.Context(), rec(i, fmt.Sprintf("w%d-%03d", w, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Record: %v", err)
	}
	got := stored()
	if len(got) != writers*per {
		t.Fatalf("stored %d records, want %d", len(got), writers*per)
	}
	seen := map[string]bool{}
	last := map[string]int{}
	for _, r := range got {
		if seen[r.EventID] {
			t.Fatalf("record %s stored twice", r.EventID)
		}
		seen[r.EventID] = true
		var w, i int
		if _, err := fmt.Sscanf(r.EventID, "w%d-%d", &w, &i); err != nil {
			t.Fatalf("unexpected record %q", r.EventID)
		}
		key := fmt.Sprint(w)
		if prev, ok := last[key]; ok && i <= prev {
			t.Fatalf("writer %d: record %d stored after %d", w, i, prev)
		}
		last[key] = i
	}
}

func testSecrets(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	r := rec(0, "secret")
	r.Error = "provider said: invalid header Authorization: Bearer tok3nvalue"
	r.Data = map[string]any{
		"password": "hunter2",
		"headers":  map[string]any{"Authorization": "Bearer abc"},
		"nested":   []any{map[string]any{"client_secret": "s3cr3t-value"}},
		"note":     "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl leaked",
		"user":     "alice@example.com",
	}
	if err := sink.Record(t.Context(), r); err != nil {
		t.Fatalf("Record: %v", err)
	}
	got := stored()
	if len(got) != 1 {
		t.Fatalf("stored %d records, want 1", len(got))
	}
	b, err := json.Marshal(got[0])
	if err != nil {
		t.Fatalf("encode stored record: %v", err)
	}
	for _, secret := range []string{"hunter2", "abc", "s3cr3t-value", "tok3nvalue", "eyJhbGciOiJIUzI1NiJ9", "c2lnbmF0dXJl"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("stored record contains secret %q: %s", secret, b)
		}
	}
	if !strings.Contains(string(b), "alice@example.com") {
		t.Errorf("stored record lost a non-secret value: %s", b)
	}
}

func testCancelled(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	want := rec(1, "cancelled")
	err := sink.Record(ctx, want)
	if err != nil && ctx.Err() == nil {
		t.Fatalf("Record with cancelled ctx: %v", err)
	}
	after := rec(2, "after")
	if err := sink.Record(t.Context(), after); err != nil {
		t.Fatalf("Record after a cancelled call: %v", err)
	}
	got := stored()
	var ids []string
	for _, r := range got {
		ids = append(ids, r.EventID)
		if r.EventID == "cancelled" {
			assertSame(t, want, r)
		}
	}
	switch {
	case err == nil && !reflect.DeepEqual(ids, []string{"cancelled", "after"}):
		t.Fatalf("Record returned nil under a cancelled ctx but stored %v", ids)
	case err != nil && !reflect.DeepEqual(ids, []string{"after"}) && !reflect.DeepEqual(ids, []string{"cancelled", "after"}):
		t.Fatalf("stored %v after a refused record", ids)
	}
}

func testRoundTrip(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	want := audit.Record{
		Time:           baseTime,
		Type:           audit.TypeDecision,
		RunID:          "run-7",
		EventID:        "evt-7",
		Subject:        "entra:00000000-0000-0000-0000-000000000007",
		Actor:          "system",
		Step:           "step-1",
		Action:         "revoke_sessions",
		IdempotencyKey: "run-7/step-1",
		Rule:           "high-risk-standard",
		Outcome:        "contain",
		Error:          "none <&> \"quoted\"",
		Data: map[string]any{
			"risk":       "high",
			"score":      0.875,
			"count":      3,
			"big":        int64(1) << 53,
			"privileged": false,
			"nothing":    nil,
			"groups":     []any{"admins", "users"},
			"unicode":    "café ✓ \u2028",
			"nested":     map[string]any{"a": map[string]any{"b": []any{1, "two", true}}},
		},
	}
	if err := sink.Record(t.Context(), want); err != nil {
		t.Fatalf("Record: %v", err)
	}
	got := stored()
	if len(got) != 1 {
		t.Fatalf("stored %d records, want 1", len(got))
	}
	assertSame(t, want, got[0])
}

func testInputNotModified(t *testing.T, sink audit.Sink, stored func() []audit.Record) {
	r := rec(0, "input")
	r.Data = map[string]any{
		"password": "hunter2",
		"headers":  map[string]any{"authorization": "Bearer abc"},
		"list":     []any{map[string]any{"token": "t0k"}},
	}
	if err := sink.Record(t.Context(), r); err != nil {
		t.Fatalf("Record: %v", err)
	}
	if r.Data["password"] != "hunter2" ||
		r.Data["headers"].(map[string]any)["authorization"] != "Bearer abc" ||
		r.Data["list"].([]any)[0].(map[string]any)["token"] != "t0k" {
		t.Fatalf("Record modified the caller's Data: %v", r.Data)
	}
	if n := len(stored()); n != 1 {
		t.Fatalf("stored %d records, want 1", n)
	}
}

// assertSame compares the content of a written and a stored record: fields,
// time instant, and Data through its JSON form. Seq, Prev and Hash are
// ignored (chaining sinks set them).
func assertSame(t *testing.T, want, got audit.Record) {
	t.Helper()
	if !want.Time.Equal(got.Time) {
		t.Errorf("Time: got %v, want %v", got.Time, want.Time)
	}
	want.Time, got.Time = time.Time{}, time.Time{}
	want.Seq, want.Prev, want.Hash = 0, "", ""
	got.Seq, got.Prev, got.Hash = 0, "", ""
	wd, gd := jsonForm(t, want.Data), jsonForm(t, got.Data)
	if !reflect.DeepEqual(wd, gd) {
		t.Errorf("Data: got %v, want %v", gd, wd)
	}
	want.Data, got.Data = nil, nil
	if !reflect.DeepEqual(want, got) {
		t.Errorf("record: got %+v, want %+v", got, want)
	}
}

func jsonForm(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return out
}
