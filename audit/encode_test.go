package audit

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAppendRecordMatchesJSON holds the hand-written encoder to
// encoding/json's output, byte for byte.
func TestAppendRecordMatchesJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 4, 10, 11, 12, 123456700, time.FixedZone("x", 3600))
	tests := []Record{
		{},
		{Time: at, Type: TypeActionResult, RunID: "r", EventID: "e", Subject: "fake:u", Actor: "system", Step: "contain/0/disable-user",
			Action: "disable-user", IdempotencyKey: "r/contain/0/disable-user", Rule: "matrix/high", Outcome: "applied", Error: "boom"},
		{Time: at.UTC(), Type: "x", Data: map[string]any{
			"s": "plain", "esc": "quote\" back\\ nl\n tab\t cr\r <html> & \u2028\u2029 \x01 \x7f é 😀 \xff",
			"b": true, "i": 42, "i64": int64(-7), "i32": int32(3), "u": uint64(1 << 63), "f": 41.5, "big": 1e21, "small": 1e-7, "neg": -0.000001, "e-12": 3e-12, "e+300": -2.5e300, "zero": 0.0, "int-float": 3.0,
			"nan-free": math.MaxFloat64, "nil": nil, "t": at, "nested": map[string]any{"z": 1, "a": []any{"x", 2}},
			"strs": []string{"a", "b"}, "attrs": map[string]string{"k": "v"}, "raw": json.RawMessage(`{"k":[1,2]}`),
		}},
	}
	for i, r := range tests {
		want, err := json.Marshal(r)
		require.NoError(t, err)
		got, err := appendRecord(nil, &r)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), "record %d", i)
	}
}

func TestAppendRecordRefusesWhatJSONRefuses(t *testing.T) {
	t.Parallel()
	r := Record{Type: "x", Data: map[string]any{"f": func() {}}}
	_, err := appendRecord(nil, &r)
	require.Error(t, err)
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t<>&", "\u2028\u2029", "\xff\xfe", "é😀", "\x00\x1f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json gives %s", s, got, want)
		}
	})
}
