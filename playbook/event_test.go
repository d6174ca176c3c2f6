package playbook_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestDecodeEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		extra []playbook.EventType
		want  error
		check func(t *testing.T, e playbook.Event)
	}{
		{name: "full event", in: `{"id":"d1","type":"risk.signin","source":"entra","subject":{"provider":"entra","id":"u1","login":"a@example.com"},
			"risk":"high","reason":"unfamiliarFeatures","occurred_at":"2026-12-01T10:00:00.1234567Z","attributes":{"ip":"203.0.113.9"},"raw":{"k":1}}`,
			check: func(t *testing.T, e playbook.Event) {
				assert.Equal(t, playbook.RiskHigh, e.Risk)
				assert.Equal(t, "entra:u1", e.Subject.Key())
				assert.Equal(t, 123456700, e.OccurredAt.Nanosecond())
				assert.JSONEq(t, `{"k":1}`, string(e.Raw))
			}},
		{name: "risk is case-insensitive", in: `{"type":"risk.user","subject":{"id":"u"},"risk":"MEDIUM"}`,
			check: func(t *testing.T, e playbook.Event) { assert.Equal(t, playbook.RiskMedium, e.Risk) }},
		{name: "missing risk is none", in: `{"type":"risk.user","subject":{"id":"u"}}`,
			check: func(t *testing.T, e playbook.Event) { assert.Equal(t, playbook.RiskNone, e.Risk) }},
		{name: "extra type allowed", in: `{"type":"acme.hr_leaver","subject":{"id":"u"}}`, extra: []playbook.EventType{"acme.hr_leaver"}},
		{name: "unknown type", in: `{"type":"acme.hr_leaver","subject":{"id":"u"}}`, want: playbook.ErrUnknownEventType},
		{name: "no subject", in: `{"type":"risk.user","subject":{}}`, want: playbook.ErrNoSubject},
		{name: "blank subject", in: `{"type":"risk.user","subject":{"id":"  "}}`, want: playbook.ErrNoSubject},
		{name: "no type", in: `{"subject":{"id":"u"}}`, want: playbook.ErrInvalidEvent},
		{name: "bad risk", in: `{"type":"risk.user","subject":{"id":"u"},"risk":"extreme"}`, want: playbook.ErrInvalidEvent},
		{name: "unknown field", in: `{"type":"risk.user","subject":{"id":"u"},"secret":"x"}`, want: playbook.ErrInvalidEvent},
		{name: "trailing data", in: `{"type":"risk.user","subject":{"id":"u"}} {}`, want: playbook.ErrInvalidEvent},
		{name: "truncated", in: `{"type":"risk.user","subject":{"id":"u"}`, want: playbook.ErrInvalidEvent},
		{name: "not an object", in: `[1,2]`, want: playbook.ErrInvalidEvent},
		{name: "empty", in: ``, want: playbook.ErrInvalidEvent},
		{name: "huge id", in: `{"id":"` + strings.Repeat("x", 600) + `","type":"risk.user","subject":{"id":"u"}}`, want: playbook.ErrInvalidEvent},
		{name: "too many attributes", in: `{"type":"risk.user","subject":{"id":"u"},"attributes":{` + manyAttributes(300) + `}}`, want: playbook.ErrInvalidEvent},
		{name: "huge attribute", in: `{"type":"risk.user","subject":{"id":"u"},"attributes":{"a":"` + strings.Repeat("x", 9000) + `"}}`, want: playbook.ErrInvalidEvent},
		{name: "huge reason", in: `{"type":"risk.user","subject":{"id":"u"},"reason":"` + strings.Repeat("x", 9000) + `"}`, want: playbook.ErrInvalidEvent},
		{name: "huge raw", in: `{"type":"risk.user","subject":{"id":"u"},"raw":"` + strings.Repeat("x", 1<<20) + `"}`, want: playbook.ErrInvalidEvent},
		{name: "oversized payload", in: `{"type":"risk.user","subject":{"id":"u"},"raw":"` + strings.Repeat("x", 3<<20) + `"}`, want: playbook.ErrInvalidEvent},
		{name: "bad time", in: `{"type":"risk.user","subject":{"id":"u"},"occurred_at":"yesterday"}`, want: playbook.ErrInvalidEvent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := playbook.DecodeEvent([]byte(tt.in), tt.extra...)
			if tt.want != nil {
				require.ErrorIs(t, err, tt.want)
				require.ErrorIs(t, err, playbook.ErrInvalidEvent, "every refusal wraps ErrInvalidEvent")
				return
			}
			require.NoError(t, err)
			if tt.check != nil {
				tt.check(t, e)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	e := playbook.Event{ID: "1", Type: playbook.EventRoleAssigned, Source: "s", Actor: "admin@example.com",
		Subject: playbook.Subject{Provider: "okta", ID: "00u1", Login: "b@example.com", DisplayName: "B"},
		Risk:    playbook.RiskLow, OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Attributes: map[string]string{"role": "SUPER_ADMIN"}}
	b, err := json.Marshal(e)
	require.NoError(t, err)
	got, err := playbook.DecodeEvent(b)
	require.NoError(t, err)
	assert.Equal(t, e, got)
}

func TestFingerprintIsStable(t *testing.T) {
	t.Parallel()
	a := playbook.Event{Type: playbook.EventRiskySignIn, Subject: playbook.Subject{ID: "u"}, OccurredAt: time.Unix(10, 0)}
	b := a
	b.OccurredAt = time.Unix(10, 0).In(time.FixedZone("x", 3600))
	assert.Equal(t, a.Fingerprint(), b.Fingerprint(), "the same instant in another zone is the same event")
	b.Subject.ID = "v"
	assert.NotEqual(t, a.Fingerprint(), b.Fingerprint())
}

func TestSubjectMatches(t *testing.T) {
	t.Parallel()
	s := playbook.Subject{Provider: "entra", ID: "u1", Login: "Alice@Example.com"}
	for in, want := range map[string]bool{"u1": true, "alice@example.com": true, " ALICE@EXAMPLE.COM ": true, "entra:u1": true, "bob": false, "": false} {
		assert.Equal(t, want, s.Matches(in), in)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	throttled := &playbook.ProviderError{Provider: "p", Op: "op", Status: 429, RetryAfter: 3 * time.Second, Err: playbook.ErrThrottled}
	tests := []struct {
		err  error
		want playbook.Class
	}{
		{throttled, playbook.ClassThrottled},
		{&playbook.ProviderError{Err: playbook.ErrUnavailable}, playbook.ClassTransient},
		{&playbook.ProviderError{Err: playbook.ErrNotFound}, playbook.ClassPermanent},
		{playbook.ErrPermissionDenied, playbook.ClassPermanent},
		{playbook.Permanent(errors.New("x")), playbook.ClassPermanent},
		{playbook.Permanent(playbook.ErrUnavailable), playbook.ClassPermanent},
		{errors.New("mystery"), playbook.ClassTransient},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, playbook.Classify(tt.err), tt.err.Error())
	}
	d, ok := playbook.RetryAfter(throttled)
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	assert.Equal(t, "p op: throttled (status 429); retry after 3s", throttled.Error())
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range []string{
		`{"id":"d1","type":"risk.signin","subject":{"provider":"entra","id":"u1"},"risk":"high","attributes":{"a":"b"},"raw":{"x":[1,2]}}`,
		`{"type":"privilege.role_assigned","subject":{"id":"u"},"actor":"a","occurred_at":"2026-12-01T10:00:00Z"}`,
		`{"type":"risk.user","subject":{"id":"u"}} x`,
		`{}`, `[]`, `null`, `{"risk":7}`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := playbook.DecodeEvent(data)
		if err != nil {
			if !errors.Is(err, playbook.ErrInvalidEvent) {
				t.Fatalf("error does not wrap ErrInvalidEvent: %v", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded event fails validation: %v", err)
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if _, err := playbook.DecodeEvent(b); err != nil {
			t.Fatalf("re-encoded event does not decode: %v\n%s", err, b)
		}
	})
}

func manyAttributes(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf("%q:\"v\"", fmt.Sprint("k", i))
	}
	return strings.Join(parts, ",")
}
