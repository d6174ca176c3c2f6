package slacktest

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Click returns the block_actions payload (the JSON that Slack puts in the
// "payload" form field) that Slack sends when userID presses the button
// with actionID on message m. The payload carries a fresh response_url
// served by s, accepted five times as Slack's are. Click fails if the user
// is unknown or the message has no such button.
func (s *Server) Click(m Message, userID, actionID string) ([]byte, error) {
	var blocks []struct {
		Type     string            `json:"type"`
		BlockID  string            `json:"block_id"`
		Elements []json.RawMessage `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		return nil, fmt.Errorf("slacktest: message %s has no readable blocks: %w", m.TS, err)
	}
	var (
		button  map[string]any
		blockID string
	)
	for _, b := range blocks {
		if b.Type != "actions" {
			continue
		}
		for _, raw := range b.Elements {
			var el map[string]any
			if json.Unmarshal(raw, &el) == nil && el["type"] == "button" && el["action_id"] == actionID {
				button, blockID = el, b.BlockID
			}
		}
	}
	if button == nil {
		return nil, fmt.Errorf("slacktest: message %s has no button %q", m.TS, actionID)
	}

	s.mu.Lock()
	u, ok := s.users[userID]
	if !ok {
		// Slack only sends payloads for real users; a test that wants an
		// unknown user must build the payload itself.
		s.mu.Unlock()
		return nil, fmt.Errorf("slacktest: no user %q", userID)
	}
	s.seq++
	seq := s.seq
	path := fmt.Sprintf("/actions/%s/%d/%s", TeamID, 1000+seq, randomToken())
	s.targets[path] = &responseTarget{channel: m.Channel, ts: m.TS}
	s.mu.Unlock()
	actionTS := fmt.Sprintf("%d.%06d", time.Now().Unix(), seq)

	action := map[string]any{
		"type": "button", "action_id": actionID, "block_id": blockID,
		"text": button["text"], "value": button["value"], "action_ts": actionTS,
	}
	if style, ok := button["style"]; ok {
		action["style"] = style
	}
	msg := messageJSON(&m)
	payload := map[string]any{
		"type":       "block_actions",
		"user":       map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": u.TeamID},
		"api_app_id": AppID,
		"token":      "emulated-verification-token",
		"container": map[string]any{"type": "message", "message_ts": m.TS, "channel_id": m.Channel,
			"is_ephemeral": false},
		"trigger_id":            fmt.Sprintf("%d.%d.%s", 1000+seq, 4242, randomToken()),
		"team":                  map[string]any{"id": TeamID, "domain": "emulated"},
		"enterprise":            nil,
		"is_enterprise_install": false,
		"channel":               map[string]any{"id": m.Channel, "name": m.Channel},
		"message":               msg,
		"state":                 map[string]any{"values": map[string]any{}},
		"response_url":          s.srv.URL + path,
		"actions":               []any{action},
	}
	return json.Marshal(payload)
}

func randomToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Sign returns the X-Slack-Signature value for body sent at ts with the
// signing secret: "v0=" and the hex HMAC-SHA256 of "v0:<unix ts>:<body>".
func Sign(secret string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%d:", ts.Unix())
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// FormBody returns the form body Slack posts for an interaction payload:
// "payload=" and the URL-encoded JSON.
func FormBody(payload []byte) []byte {
	return []byte(url.Values{"payload": {string(payload)}}.Encode())
}

// SignRequest returns the POST request Slack would send to target for an
// interaction payload at ts: the form body, its Content-Type, and the
// X-Slack-Request-Timestamp and X-Slack-Signature headers made with
// secret. The request is for a server (hand it to ServeHTTP with an
// httptest.ResponseRecorder), not for an http.Client. It fails only when
// target is not a URL.
func SignRequest(target, secret string, ts time.Time, payload []byte) (*http.Request, error) {
	body := FormBody(payload)
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("slacktest: bad target %q: %w", target, err)
	}
	req.RequestURI = req.URL.RequestURI()
	req.RemoteAddr = "192.0.2.1:40000"
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Sign(secret, ts, body))
	return req, nil
}
