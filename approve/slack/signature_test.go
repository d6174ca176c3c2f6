package slackapprove_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	slackapprove "github.com/iamplaybook/iamplaybook/approve/slack"
	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
)

// Slack's documented example of a signed request (see testdata/README.md).
const (
	docSecret    = "8f742231b10e8888abcd99yyyzzz85a5"
	docTimestamp = "1531420618"
	docSignature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
	docBody      = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)

func TestVerifyRequest(t *testing.T) {
	t.Parallel()
	sent := time.Unix(1531420618, 0)
	tests := []struct {
		name      string
		secret    string
		timestamp string
		signature string
		body      string
		now       time.Time
		wantErr   error
	}{
		{name: "Slack's example", now: sent.Add(time.Minute)},
		{name: "edge of the window, late", now: sent.Add(slackapprove.SignatureWindow)},
		{name: "edge of the window, early", now: sent.Add(-slackapprove.SignatureWindow)},
		{name: "wrong secret", secret: "8f742231b10e8888abcd99yyyzzz85a6", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "body changed", body: strings.Replace(docBody, "roadrunner", "coyote", 1), now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "timestamp changed", timestamp: "1531420619", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "one hex digit changed", signature: docSignature[:len(docSignature)-1] + "c", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "truncated signature", signature: docSignature[:40], now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "other version", signature: "v1=" + docSignature[3:], now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "not hex", signature: "v0=" + strings.Repeat("zz", 32), now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "no signature", signature: "-", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "no timestamp", timestamp: "-", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "timestamp not a number", timestamp: "yesterday", now: sent, wantErr: slackapprove.ErrBadSignature},
		{name: "too old", now: sent.Add(slackapprove.SignatureWindow + time.Second), wantErr: slackapprove.ErrStaleRequest},
		{name: "from the future", now: sent.Add(-slackapprove.SignatureWindow - time.Second), wantErr: slackapprove.ErrStaleRequest},
		{name: "no secret configured", secret: "-", now: sent, wantErr: slackapprove.ErrBadSignature},
	}
	or := func(v, def string) string {
		switch v {
		case "":
			return def
		case "-":
			return ""
		}
		return v
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := http.Header{}
			if ts := or(tt.timestamp, docTimestamp); ts != "" {
				h.Set("X-Slack-Request-Timestamp", ts)
			}
			if sig := or(tt.signature, docSignature); sig != "" {
				h.Set("X-Slack-Signature", sig)
			}
			err := slackapprove.VerifyRequest([]byte(or(tt.secret, docSecret)), h, []byte(or(tt.body, docBody)), tt.now)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), docSecret)
			assert.NotContains(t, err.Error(), docSignature[3:], "the expected signature is never revealed")
		})
	}
}

// TestSignMatchesVerify: the emulator signs as Slack does.
func TestSignMatchesVerify(t *testing.T) {
	t.Parallel()
	at := time.Unix(1531420618, 0)
	assert.Equal(t, docSignature, slacktest.Sign(docSecret, at, []byte(docBody)))
	req, err := slacktest.SignRequest("https://approvals.example/slack", "s3cret", at, []byte(`{"type":"block_actions"}`))
	require.NoError(t, err)
	body := readBody(t, req)
	require.NoError(t, slackapprove.VerifyRequest([]byte("s3cret"), req.Header, body, at))
	assert.True(t, strings.HasPrefix(string(body), "payload="))
}
