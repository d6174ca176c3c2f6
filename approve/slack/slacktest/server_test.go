package slacktest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve/slack/slacktest"
)

// TestWireFormat speaks raw HTTP to the listening server and checks the
// answers have Slack's shapes: HTTP 200 with "ok" and "error" for API
// failures, 429 with Retry-After for rate limits.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		form       url.Values
		bearer     string
		setup      func(s *slacktest.Server)
		wantStatus int
		wantOK     bool
		wantError  string
		check      func(t *testing.T, body map[string]any, h http.Header)
	}{
		{name: "no token", method: "chat.postMessage", form: url.Values{"channel": {"C1"}, "text": {"hi"}},
			wantStatus: 200, wantError: "not_authed"},
		{name: "wrong token", method: "chat.postMessage", form: url.Values{"token": {"nope"}, "channel": {"C1"}, "text": {"hi"}},
			wantStatus: 200, wantError: "invalid_auth"},
		{name: "bearer token", method: "chat.postMessage", bearer: "xoxb-t", form: url.Values{"channel": {"C1"}, "text": {"hi"}},
			wantStatus: 200, wantOK: true, check: func(t *testing.T, body map[string]any, h http.Header) {
				assert.Equal(t, "C1", body["channel"])
				assert.Regexp(t, `^\d+\.\d{6}$`, body["ts"])
				assert.Equal(t, "hi", body["message"].(map[string]any)["text"])
			}},
		{name: "unknown channel", method: "chat.postMessage", form: url.Values{"token": {"xoxb-t"}, "channel": {"C9"}, "text": {"hi"}},
			wantStatus: 200, wantError: "channel_not_found"},
		{name: "no text", method: "chat.postMessage", form: url.Values{"token": {"xoxb-t"}, "channel": {"C1"}},
			wantStatus: 200, wantError: "no_text"},
		{name: "blocks not an array", method: "chat.postMessage", form: url.Values{"token": {"xoxb-t"}, "channel": {"C1"}, "blocks": {`{"type":"x"}`}},
			wantStatus: 200, wantError: "invalid_blocks"},
		{name: "update of an unknown message", method: "chat.update", form: url.Values{"token": {"xoxb-t"}, "channel": {"C1"}, "ts": {"1.000001"}, "text": {"x"}},
			wantStatus: 200, wantError: "message_not_found"},
		{name: "users.info", method: "users.info", form: url.Values{"token": {"xoxb-t"}, "user": {"U1"}},
			wantStatus: 200, wantOK: true, check: func(t *testing.T, body map[string]any, h http.Header) {
				u := body["user"].(map[string]any)
				assert.Equal(t, "U1", u["id"])
				assert.Equal(t, slacktest.TeamID, u["team_id"])
				assert.Equal(t, "ann@example.com", u["profile"].(map[string]any)["email"])
			}},
		{name: "users.info of nobody", method: "users.info", form: url.Values{"token": {"xoxb-t"}, "user": {"U9"}},
			wantStatus: 200, wantError: "user_not_found"},
		{name: "lookupByEmail ignores case", method: "users.lookupByEmail", form: url.Values{"token": {"xoxb-t"}, "email": {"ANN@example.com"}},
			wantStatus: 200, wantOK: true},
		{name: "lookupByEmail of nobody", method: "users.lookupByEmail", form: url.Values{"token": {"xoxb-t"}, "email": {"x@example.com"}},
			wantStatus: 200, wantError: "users_not_found"},
		{name: "conversations.open", method: "conversations.open", form: url.Values{"token": {"xoxb-t"}, "users": {"U1"}},
			wantStatus: 200, wantOK: true, check: func(t *testing.T, body map[string]any, h http.Header) {
				assert.Equal(t, "D1", body["channel"].(map[string]any)["id"])
			}},
		{name: "rate limited", method: "users.info", form: url.Values{"token": {"xoxb-t"}, "user": {"U1"}},
			setup:      func(s *slacktest.Server) { s.Throttle("users.info", 1, 1500*time.Millisecond) },
			wantStatus: 429, wantError: "ratelimited", check: func(t *testing.T, body map[string]any, h http.Header) {
				assert.Equal(t, "2", h.Get("Retry-After"), "whole seconds, rounded up")
			}},
		{name: "injected failure", method: "chat.update", form: url.Values{"token": {"xoxb-t"}},
			setup: func(s *slacktest.Server) { s.Fail("chat.update", "cant_update_message") }, wantStatus: 200, wantError: "cant_update_message"},
		{name: "unknown method", method: "admin.users.remove", form: url.Values{"token": {"xoxb-t"}},
			wantStatus: 200, wantError: "unknown_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := slacktest.NewServer("xoxb-t")
			defer s.Close()
			s.AddChannel("C1")
			s.AddUser(slacktest.User{ID: "U1", Name: "ann", Email: "ann@example.com"})
			if tt.setup != nil {
				tt.setup(s)
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.APIURL()+tt.method, strings.NewReader(tt.form.Encode()))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+tt.bearer)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.StatusCode)
			assert.Contains(t, resp.Header.Get("Content-Type"), "application/json")
			var body map[string]any
			require.NoError(t, json.Unmarshal(raw, &body), string(raw))
			assert.Equal(t, tt.wantOK, body["ok"])
			if tt.wantError != "" {
				assert.Equal(t, tt.wantError, body["error"])
			}
			if tt.check != nil {
				tt.check(t, body, resp.Header)
			}
			assert.Equal(t, 1, s.Calls(tt.method))
		})
	}
}

// TestResponseURL: a click's response_url takes five answers, then
// expires; other paths are unknown.
func TestResponseURL(t *testing.T) {
	t.Parallel()
	s := slacktest.NewServer("xoxb-t")
	defer s.Close()
	s.AddChannel("C1")
	s.AddUser(slacktest.User{ID: "U1", Name: "ann", Email: "ann@example.com"})
	blocks := `[{"type":"actions","block_id":"b","elements":[{"type":"button","action_id":"go","value":"v","text":{"type":"plain_text","text":"Go"}}]}]`
	resp, err := s.HTTPClient().PostForm(s.APIURL()+"chat.postMessage", url.Values{"token": {"xoxb-t"}, "channel": {"C1"}, "blocks": {blocks}})
	require.NoError(t, err)
	resp.Body.Close()
	m := s.Messages()[0]

	_, err = s.Click(m, "U1", "missing")
	require.ErrorContains(t, err, `no button "missing"`)
	_, err = s.Click(m, "U9", "go")
	require.ErrorContains(t, err, `no user "U9"`)
	payload, err := s.Click(m, "U1", "go")
	require.NoError(t, err)
	var p struct {
		Type        string              `json:"type"`
		ResponseURL string              `json:"response_url"`
		User        struct{ ID string } `json:"user"`
		Container   struct {
			MessageTS string `json:"message_ts"`
			ChannelID string `json:"channel_id"`
		} `json:"container"`
	}
	require.NoError(t, json.Unmarshal(payload, &p))
	assert.Equal(t, "block_actions", p.Type)
	assert.Equal(t, "U1", p.User.ID)
	assert.Equal(t, m.TS, p.Container.MessageTS)
	assert.Equal(t, "C1", p.Container.ChannelID)
	assert.Contains(t, string(payload), `"value":"v"`)

	codes := make([]int, 0, 6)
	for range 6 {
		resp, err := http.Post(p.ResponseURL, "application/json", strings.NewReader(`{"text":"done","response_type":"ephemeral"}`))
		require.NoError(t, err)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	assert.Equal(t, []int{200, 200, 200, 200, 200, 404}, codes)
	require.Len(t, s.Responses(), 5)
	assert.Equal(t, "done", s.Responses()[0].Text)
	assert.Equal(t, m.TS, s.Responses()[0].MessageTS)

	resp, err = http.Post(s.URL()+"actions/T0/1/forged", "application/json", strings.NewReader(`{"text":"x"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// TestHTTPClientStaysHome: the in-process client refuses other hosts, so
// a token can never leave the emulator.
func TestHTTPClientStaysHome(t *testing.T) {
	t.Parallel()
	s := slacktest.NewServer("xoxb-t")
	defer s.Close()
	_, err := s.HTTPClient().Get("https://slack.com/api/users.info")
	require.ErrorContains(t, err, "not the emulator")
}
