package slackapprove

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// seeds returns the interaction payloads of testdata, as Slack documents
// them and rewritten to press one of our buttons.
func seeds(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var out [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, raw)
		var m map[string]any
		require.NoError(t, json.Unmarshal(raw, &m))
		value, _ := json.Marshal(buttonValue{ApprovalID: "run-1:approval", SummaryHash: "ab12"})
		m["actions"] = []any{map[string]any{"type": "button", "action_id": ActionApprove, "block_id": blockID,
			"value": string(value), "action_ts": "1548426417.840180"}}
		ours, err := json.Marshal(m)
		require.NoError(t, err)
		out = append(out, ours)
	}
	return out
}

// TestParseDocumentedPayload: Slack's documented payload decodes; it is
// another app's button, so it is ignored, and the same payload pressing
// ours yields the verdict's facts.
func TestParseDocumentedPayload(t *testing.T) {
	t.Parallel()
	s := seeds(t)
	_, err := parseInteraction([]byte(url.Values{"payload": {string(s[0])}}.Encode()))
	require.ErrorIs(t, err, errNotOurs)
	in, err := parseInteraction([]byte(url.Values{"payload": {string(s[1])}}.Encode()))
	require.NoError(t, err)
	require.Equal(t, interaction{ApprovalID: "run-1:approval", SummaryHash: "ab12", Approve: true, UserID: "U0CA5", TeamID: "T3MDE",
		ResponseURL: "https://hooks.slack.com/actions/T3MDE/548261231/xyzzyFAKEresponseURL"}, in)
}

// FuzzParseInteraction: any body either decodes to a press naming an
// approval and a user, or is refused with an error; it never panics.
func FuzzParseInteraction(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add([]byte(url.Values{"payload": {string(s)}}.Encode()))
	}
	f.Add([]byte("payload="))
	f.Add([]byte("payload=%7B%7D"))
	f.Add([]byte("%zz"))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := parseInteraction(body)
		if err != nil {
			return
		}
		if in.ApprovalID == "" || in.UserID == "" {
			t.Fatalf("accepted a press without approval or user: %+v", in)
		}
	})
}

// FuzzVerifyRequest: arbitrary headers and bodies never panic the
// verifier, and are never accepted without the secret's signature.
func FuzzVerifyRequest(f *testing.F) {
	f.Add("1531420618", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503", []byte("token=x"))
	f.Add("", "", []byte(nil))
	f.Add("-1", "v0=", []byte("payload=%7B%7D"))
	f.Add("99999999999999999999", "v0=zz", []byte{0xff})
	secret := []byte("fuzz-secret")
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("X-Slack-Request-Timestamp", ts)
		h.Set("X-Slack-Signature", sig)
		if err := VerifyRequest(secret, h, body, time.Unix(1531420618, 0)); err == nil {
			t.Fatalf("accepted a request the fuzzer made up: ts=%q sig=%q", ts, sig)
		}
	})
}
