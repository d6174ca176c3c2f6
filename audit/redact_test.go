package audit_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
)

func TestRedactKeys(t *testing.T) {
	t.Parallel()
	const R = audit.RedactedValue
	tests := []struct {
		key    string
		redact bool
	}{
		{"password", true},
		{"Password", true},
		{"newPassword", true},
		{"passwd", true},
		{"pwd", true},
		{"secret", true},
		{"client_secret", true},
		{"clientSecret", true},
		{"token", true},
		{"access_token", true},
		{"refresh_token", true},
		{"id_token", true},
		{"accessToken", true},
		{"Authorization", true},
		{"proxy-authorization", true},
		{"api_key", true},
		{"apikey", true},
		{"apiKey", true},
		{"x-api-key", true},
		{"X-API-Key", true},
		{"cookie", true},
		{"Set-Cookie", true},
		{"private_key", true},
		{"privateKey", true},
		{"client_assertion", true},
		{"SAMLAssertion", true},
		{"credentials", true},
		{"password_hash", true},
		{"x-csrf-token", true},
		{"signing_key", true},
		// Not secrets: identifiers and metadata about secrets.
		{"idempotency_key", false},
		{"token_type", false},
		{"tokenType", false},
		{"token_expires_in", false},
		{"password_changed_at", false},
		{"lastPasswordChangeDateTime", false},
		{"credential_count", false},
		{"session_id", false},
		{"user", false},
		{"key", false},
		{"monkey", false},
		{"risk_level", false},
		{"https://schemas.openid.net/secevent/risc/event-type/credential-compromise", false},
		{"https://schemas.openid.net/secevent/caep/event-type/credential-change", false},
		{"urn:example:credential-event", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			t.Parallel()
			in := audit.Record{Data: map[string]any{tt.key: "v4lue"}}
			got := audit.Redact(in)
			if tt.redact {
				assert.Equal(t, R, got.Data[tt.key])
			} else {
				assert.Equal(t, "v4lue", got.Data[tt.key])
			}
			assert.Equal(t, "v4lue", in.Data[tt.key], "input modified")
		})
	}
}

func TestRedactValues(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWJ5dGVz"
	tests := []struct {
		name string
		in   any
		want any
	}{
		{"plain string kept", "user signed in from 10.0.0.1", "user signed in from 10.0.0.1"},
		{"bearer", "Bearer abc.def-ghi", "Bearer [REDACTED]"},
		{"bearer lower in text", "sent authorization: bearer xyz123 to graph", "sent authorization: bearer [REDACTED] to graph"},
		{"ssws", "SSWS 00abcDEF_123", "SSWS [REDACTED]"},
		{"jwt alone", jwt, "[REDACTED]"},
		{"jwt in text", "got " + jwt + " from idp", "got [REDACTED] from idp"},
		{"not a jwt", "eyJ is just a prefix", "eyJ is just a prefix"},
		{"number kept", 42, 42},
		{"bool kept", true, true},
		{"nil kept", nil, nil},
		{"slice of strings", []string{"ok", "Bearer t"}, []string{"ok", "Bearer [REDACTED]"}},
		{"clean slice of strings is kept", []string{"ok"}, []string{"ok"}},
		{"nested map", map[string]any{"a": map[string]any{"password": "p", "b": 1}},
			map[string]any{"a": map[string]any{"password": "[REDACTED]", "b": 1}}},
		{"slice of maps", []map[string]any{{"token": "t", "n": "x"}},
			[]any{map[string]any{"token": "[REDACTED]", "n": "x"}}},
		{"map of strings", map[string]string{"Authorization": "Basic dXNlcjpwYXNz", "Accept": "json"},
			map[string]string{"Authorization": "[REDACTED]", "Accept": "json"}},
		{"whole subtree under secret key", map[string]any{"credentials": map[string]any{"user": "u", "pass": "p"}},
			map[string]any{"credentials": "[REDACTED]"}},
		{"event-type URI key kept, secrets inside still redacted",
			map[string]any{"https://schemas.openid.net/secevent/risc/event-type/credential-compromise": map[string]any{"credential_type": "password", "token": "t"}},
			map[string]any{"https://schemas.openid.net/secevent/risc/event-type/credential-compromise": map[string]any{"credential_type": "password", "token": "[REDACTED]"}}},
		{"bool under secret key kept", map[string]any{"password_reset_required": true},
			map[string]any{"password_reset_required": true}},
		{"number under secret key", map[string]any{"otp": 123456}, map[string]any{"otp": "[REDACTED]"}},
		{"struct via JSON form", struct {
			User     string `json:"user"`
			Password string `json:"password"`
		}{"alice", "hunter2"}, map[string]any{"user": "alice", "password": "[REDACTED]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := audit.Record{Data: map[string]any{"v": tt.in}}
			before, err := json.Marshal(in)
			require.NoError(t, err)
			got := in.Redacted()
			assert.Equal(t, tt.want, got.Data["v"])
			after, err := json.Marshal(in)
			require.NoError(t, err)
			assert.Equal(t, string(before), string(after), "input modified")
		})
	}
}

func TestRedactRecordFields(t *testing.T) {
	t.Parallel()
	in := audit.Record{Type: audit.TypeActionResult, Error: "401 for Bearer abc", Outcome: "failed"}
	got := audit.Redact(in)
	assert.Equal(t, "401 for Bearer [REDACTED]", got.Error)
	assert.Equal(t, "failed", got.Outcome)
	assert.Nil(t, got.Data)
	assert.Equal(t, "401 for Bearer abc", in.Error)
}
