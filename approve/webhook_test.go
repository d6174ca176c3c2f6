package approve_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/approve"
	"github.com/iamplaybook/iamplaybook/playbook"
)

var secret = []byte("0123456789abcdef0123456789abcdef-on-call")

// receiver is an on-call endpoint: it verifies each POST and records the
// payloads, answering with the statuses of script in turn (200 once the
// script runs out).
type receiver struct {
	mu       sync.Mutex
	script   []int
	retry    string
	got      []approve.WebhookPayload
	attempts int
	bad      []error
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.attempts++
	if err := approve.VerifyWebhook(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		rc.bad = append(rc.bad, err)
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if len(rc.script) > 0 {
		status := rc.script[0]
		rc.script = rc.script[1:]
		if status != http.StatusOK {
			if rc.retry != "" {
				w.Header().Set("Retry-After", rc.retry)
			}
			http.Error(w, "try later", status)
			return
		}
	}
	var p approve.WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		rc.bad = append(rc.bad, err)
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if p.Delivery != r.Header.Get(approve.HeaderDelivery) {
		rc.bad = append(rc.bad, errors.New("delivery header differs from the payload"))
	}
	rc.got = append(rc.got, p)
	w.WriteHeader(http.StatusNoContent)
}

// inProcess is a transport that serves requests with a handler in the
// same process, so that retry timing runs on a synctest bubble's clock.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

func TestWebhookDeliversSignedPayloads(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	rs := leadsRules()
	w, err := approve.NewWebhook(approve.WebhookConfig{URL: srv.URL + "/hooks/approvals", Secret: secret, Rules: &rs})
	require.NoError(t, err)

	req := request("global-admin")
	req.Summary, req.SummaryHash = "Subject: lead3", "abc"
	require.NoError(t, w.Request(t.Context(), req))
	require.NoError(t, w.Follow(t.Context(), playbook.ApprovalNotice{Kind: playbook.NoticeEscalation, Tier: 1, Request: req, Status: playbook.ApprovalPending, At: t0.Add(time.Hour)}))
	require.NoError(t, w.Follow(t.Context(), playbook.ApprovalNotice{Kind: playbook.NoticeSettled, Request: req, Status: playbook.ApprovalDenied,
		Verdicts: []playbook.Verdict{verdict("lead1@example.com", false, time.Minute)}, At: t0.Add(time.Hour)}))

	rc.mu.Lock()
	defer rc.mu.Unlock()
	require.Empty(t, rc.bad)
	require.Len(t, rc.got, 3)
	assert.Equal(t, "requested", rc.got[0].Kind)
	assert.Equal(t, []string{"lead1@example.com", "lead2@example.com"}, rc.got[0].Recipients, "the subject is never paged to approve")
	assert.Equal(t, "global-admin", rc.got[0].Rule)
	assert.Equal(t, "escalation", rc.got[1].Kind)
	assert.Equal(t, 1, rc.got[1].Tier)
	assert.Equal(t, []string{"ciso@example.com"}, rc.got[1].Recipients)
	assert.Equal(t, "r1:approval/escalation/1", rc.got[1].Delivery)
	assert.Equal(t, playbook.ApprovalDenied, rc.got[2].Status)
	assert.Len(t, rc.got[2].Verdicts, 1)
}

func TestWebhookRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   []int
		retry    string
		attempts int
		elapsed  time.Duration
		status   int
	}{
		{name: "delivered at once", attempts: 1},
		{name: "5xx retried with doubling backoff", script: []int{503, 502, 200}, attempts: 3, elapsed: 3 * time.Second},
		{name: "429 honours Retry-After", script: []int{429, 200}, retry: "7", attempts: 2, elapsed: 7 * time.Second},
		{name: "Retry-After is capped", script: []int{429, 200}, retry: "3600", attempts: 2, elapsed: 30 * time.Second},
		{name: "gives up after MaxAttempts", script: []int{500, 500, 500, 500, 500}, attempts: 5, elapsed: 15 * time.Second, status: 500},
		{name: "4xx is permanent", script: []int{404}, attempts: 1, status: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				rc := &receiver{script: tt.script, retry: tt.retry}
				w, err := approve.NewWebhook(approve.WebhookConfig{URL: "https://oncall.example.com/hook?token=s3cr3t", Secret: secret,
					Client: &http.Client{Transport: inProcess{rc}}})
				require.NoError(t, err)
				start := time.Now()
				err = w.Request(t.Context(), request("global-admin"))
				assert.Equal(t, tt.elapsed, time.Since(start), "backoff on the bubble's clock")
				rc.mu.Lock()
				defer rc.mu.Unlock()
				assert.Equal(t, tt.attempts, rc.attempts)
				assert.Empty(t, rc.bad)
				if tt.status == 0 {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, approve.ErrWebhook)
				var we *approve.WebhookError
				require.ErrorAs(t, err, &we)
				assert.Equal(t, tt.status, we.Status)
				assert.Equal(t, tt.attempts, we.Attempts)
				assert.NotContains(t, err.Error(), "s3cr3t", "the URL's token stays out of errors")
				assert.NotContains(t, err.Error(), string(secret))
			})
		})
	}
}

func TestWebhookStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{script: []int{503, 503, 503}}
		w, err := approve.NewWebhook(approve.WebhookConfig{URL: "https://oncall.example.com/hook", Secret: secret, Client: &http.Client{Transport: inProcess{rc}}})
		require.NoError(t, err)
		done := make(chan error, 1)
		cctx, stop := context.WithCancel(t.Context())
		go func() { done <- w.Request(cctx, request("global-admin")) }()
		time.Sleep(1500 * time.Millisecond) // after the first retry's wait began
		stop()
		err = <-done
		require.ErrorIs(t, err, approve.ErrWebhook)
		assert.ErrorContains(t, err, "context canceled")
	})
}

func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     approve.WebhookConfig
		wantErr string
	}{
		{name: "no URL", cfg: approve.WebhookConfig{Secret: secret}, wantErr: "URL"},
		{name: "relative URL", cfg: approve.WebhookConfig{URL: "/hook", Secret: secret}, wantErr: "URL"},
		{name: "other scheme", cfg: approve.WebhookConfig{URL: "ftp://x/hook", Secret: secret}, wantErr: "URL"},
		{name: "short secret", cfg: approve.WebhookConfig{URL: "https://x/hook", Secret: []byte("short")}, wantErr: "Secret"},
		{name: "negative attempts", cfg: approve.WebhookConfig{URL: "https://x/hook", Secret: secret, MaxAttempts: -1}, wantErr: "MaxAttempts"},
		{name: "invalid rules", cfg: approve.WebhookConfig{URL: "https://x/hook", Secret: secret, Rules: &approve.Rules{}}, wantErr: "Rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := approve.NewWebhook(tt.cfg)
			require.ErrorContains(t, err, tt.wantErr)
			assert.NotContains(t, err.Error(), string(secret))
		})
	}
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"kind":"requested"}`)
	// signed follows the documented scheme, independently of the code
	// under test: "v1=" + hex HMAC-SHA256(key, timestamp + "." + body).
	signed := func(ts time.Time, b []byte, key []byte) http.Header {
		stamp := strconv.FormatInt(ts.Unix(), 10)
		m := hmac.New(sha256.New, key)
		m.Write([]byte(stamp + "."))
		m.Write(b)
		h := http.Header{}
		h.Set(approve.HeaderTimestamp, stamp)
		h.Set(approve.HeaderSignature, "v1="+hex.EncodeToString(m.Sum(nil)))
		return h
	}
	tests := []struct {
		name    string
		h       http.Header
		body    []byte
		wantErr string
	}{
		{name: "valid", h: signed(now, body, secret), body: body},
		{name: "forged with another key", h: signed(now, body, bytes.Repeat([]byte("k"), 32)), body: body, wantErr: "does not match"},
		{name: "body altered", h: signed(now, body, secret), body: []byte(`{"kind":"settled"}`), wantErr: "does not match"},
		{name: "replayed outside the window", h: signed(now.Add(-10*time.Minute), body, secret), body: body, wantErr: "outside the 5m0s window"},
		{name: "no timestamp", h: http.Header{}, body: body, wantErr: "Timestamp"},
		{name: "no signature", h: func() http.Header { h := signed(now, body, secret); h.Del(approve.HeaderSignature); return h }(), body: body, wantErr: "Signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := approve.VerifyWebhook(secret, tt.h, tt.body, now, 5*time.Minute)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, approve.ErrBadSignature)
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}
