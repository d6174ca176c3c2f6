package okta_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/okta"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

func TestDecodeEventHookSample(t *testing.T) {
	t.Parallel()
	h, err := okta.DecodeEventHook(readTestdata(t, "okta-eventhook-user.session.start.json"))
	require.NoError(t, err)
	assert.Equal(t, "85b60edb-4263-4e13-993b-818e26201052", h.EventID)
	require.Len(t, h.Events, 1)
	e := h.Events[0]
	assert.Equal(t, "f1d0b993-cc19-11ed-a688-db22c99ef6c4", e.UUID)
	assert.Equal(t, okta.EventSessionStart, e.EventType)
	assert.Equal(t, time.Date(2023, 3, 26, 21, 5, 32, 159e6, time.UTC), e.Published.UTC())
	assert.Equal(t, "00uz9fj5aT69fHVro1d6", e.Actor.ID)
	assert.Equal(t, "142.126.158.61", e.IP())
	assert.Equal(t, "Toronto, Ontario, Canada", e.Location())
	assert.Equal(t, "false", e.Debug("threatSuspected"))
	assert.Equal(t, "idxyNcxVX2ESsSL0u462548Qg", e.AuthenticationContext.ExternalSessionID)
	assert.True(t, json.Valid(e.Raw))
}

func TestDecodeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		hook bool
	}{
		{"not json", `{`, false},
		{"no uuid", `{"eventType":"x","published":"2024-01-01T00:00:00Z"}`, false},
		{"no eventType", `{"uuid":"u","published":"2024-01-01T00:00:00Z"}`, false},
		{"no published", `{"uuid":"u","eventType":"x"}`, false},
		{"bad published", `{"uuid":"u","eventType":"x","published":"yesterday"}`, false},
		{"bad version", `{"uuid":"u","eventType":"x","published":"2024-01-01T00:00:00Z","version":{}}`, false},
		{"hook wrong type", `{"eventType":"other","data":{"events":[]}}`, true},
		{"hook no events", `{"eventType":"com.okta.event_hook","data":{}}`, true},
		{"hook bad event", `{"eventType":"com.okta.event_hook","data":{"events":[{"uuid":""}]}}`, true},
		{"hook events not array", `{"eventType":"com.okta.event_hook","data":{"events":{}}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tc.hook {
				_, err = okta.DecodeEventHook([]byte(tc.in))
			} else {
				_, err = okta.DecodeLogEvent([]byte(tc.in))
			}
			require.ErrorIs(t, err, okta.ErrBadPayload)
		})
	}
	big := make([]byte, okta.MaxLogEventBytes+1)
	_, err := okta.DecodeLogEvent(big)
	require.ErrorIs(t, err, okta.ErrBadPayload)
}

func TestDecodeVersionNumber(t *testing.T) {
	t.Parallel()
	e, err := okta.DecodeLogEvent([]byte(`{"uuid":"u","eventType":"x","published":"2024-01-01T00:00:00.123Z","version":0}`))
	require.NoError(t, err)
	assert.Equal(t, "0", string(e.Version))
}

func TestParseDebugMap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{in: "{previousLevel=LOW, level=MEDIUM, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}",
			want: map[string]string{"previousLevel": "LOW", "level": "MEDIUM", "detectionName": "Session Influenced User Risk", "reasons": "Anomalous Location, New Device", "issuer": "OKTA"}},
		{in: "{level=HIGH}", want: map[string]string{"level": "HIGH"}},
		{in: "level=LOW, detail={a=1, b=2}", want: map[string]string{"level": "LOW", "detail": "{a=1, b=2}"}},
		{in: "{}", want: map[string]string{}},
		{in: "{reasons=[x, y], level=HIGH}", want: map[string]string{"reasons": "[x, y]", "level": "HIGH"}},
		{in: "{level=HIGH", wantErr: true},
		{in: "no equals sign", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := okta.ParseDebugMap(tc.in)
			if tc.wantErr {
				require.ErrorIs(t, err, okta.ErrBadPayload)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseThreatDetections(t *testing.T) {
	t.Parallel()
	got, err := okta.ParseThreatDetections(`{"Password Spray":"HIGH","Login failures":"MEDIUM","count":3}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"Password Spray": "HIGH", "Login failures": "MEDIUM", "count": "3"}, got)
	_, err = okta.ParseThreatDetections(`{Password Spray=HIGH}`)
	require.ErrorIs(t, err, okta.ErrBadPayload)
}

func FuzzDecodeEventHook(f *testing.F) {
	f.Add(readTestdata(f, "okta-eventhook-user.session.start.json"))
	f.Add([]byte(`{"eventType":"com.okta.event_hook","data":{"events":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := okta.DecodeEventHook(data)
		if err != nil {
			return
		}
		m := okta.NewMapper(okta.MapperConfig{PrivilegedGroups: []string{"admins"}})
		for _, e := range h.Events {
			if e.UUID == "" || e.EventType == "" {
				t.Fatalf("decoded an event without uuid or eventType")
			}
			if ev, ok, err := m.Map(e); ok && err == nil {
				if ev.Subject.ID == "" {
					t.Fatalf("mapped event %s has no subject", e.UUID)
				}
			}
		}
	})
}

func FuzzDecodeLogEvent(f *testing.F) {
	h, err := okta.DecodeEventHook(readTestdata(f, "okta-eventhook-user.session.start.json"))
	require.NoError(f, err)
	f.Add([]byte(h.Events[0].Raw))
	f.Add([]byte(itpEvent("user.risk.detect", `"risk":"{previousLevel=LOW, level=HIGH, detectionName=Entity Critical Action, reasons=Anomalous Location, issuer=OKTA}"`)))
	f.Add([]byte(itpEvent("security.threat.detected", `"threatDetections":"{\"Password Spray\":\"HIGH\"}"`)))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := okta.DecodeLogEvent(data)
		if err != nil {
			return
		}
		_, _, _ = okta.NewMapper(okta.MapperConfig{}).Map(e)
	})
}

func FuzzParseDebugMap(f *testing.F) {
	f.Add("{previousLevel=LOW, level=MEDIUM, detectionName=Session Influenced User Risk, reasons=Anomalous Location, New Device, issuer=OKTA}")
	f.Add("{a={b=c, d=[e, f]}, g=h}")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := okta.ParseDebugMap(s)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

func FuzzParseThreatDetections(f *testing.F) {
	f.Add(`{"Password Spray":"HIGH"}`)
	f.Add(`{"Login failures":"MEDIUM","nested":{"x":1}}`)
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = okta.ParseThreatDetections(s)
	})
}
