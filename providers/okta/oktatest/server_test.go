package oktatest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

const token = "emulator-test-token"

func call(t *testing.T, s *oktatest.Server, method, path, auth string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, nil)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := s.HTTPClient().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

func apiError(t *testing.T, b []byte) okta.APIError {
	t.Helper()
	var e okta.APIError
	require.NoError(t, json.Unmarshal(b, &e))
	require.NotEmpty(t, e.ErrorID)
	return e
}

func TestLifecycleStatusMachine(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer(oktatest.Options{APIToken: token})
	t.Cleanup(s.Close)
	id, err := s.AddUser(oktatest.UserSpec{Login: "a@example.com"})
	require.NoError(t, err)
	tests := []struct {
		op     string
		status int
		code   string
		after  string
	}{
		{"unsuspend", 400, okta.CodeAPIValidation, okta.StatusActive},
		{"suspend", 200, "", okta.StatusSuspended},
		{"suspend", 400, okta.CodeAPIValidation, okta.StatusSuspended},
		{"expire_password", 403, okta.CodeStatusForbids, okta.StatusSuspended},
		{"unsuspend", 200, "", okta.StatusActive},
		{"activate", 403, okta.CodeAlreadyActive, okta.StatusActive},
		{"deactivate", 200, "", okta.StatusDeprovisioned},
		{"activate", 200, "", okta.StatusActive},
	}
	for _, tc := range tests {
		st, _, b := call(t, s, http.MethodPost, "/api/v1/users/"+id+"/lifecycle/"+tc.op, "SSWS "+token)
		require.Equal(t, tc.status, st, "%s: %s", tc.op, b)
		if tc.code != "" {
			assert.Equal(t, tc.code, apiError(t, b).ErrorCode, tc.op)
		}
		u, _ := s.User(id)
		assert.Equal(t, tc.after, u.Status, tc.op)
	}
	st, _, b := call(t, s, http.MethodGet, "/api/v1/users/nobody", "SSWS "+token)
	assert.Equal(t, 404, st)
	assert.Equal(t, okta.CodeNotFound, apiError(t, b).ErrorCode)
	st, _, b = call(t, s, http.MethodGet, "/api/v1/users/"+id, "SSWS wrong")
	assert.Equal(t, 401, st)
	assert.Equal(t, okta.CodeInvalidToken, apiError(t, b).ErrorCode)
}

func TestSystemLogPollingMode(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer(oktatest.Options{APIToken: token})
	t.Cleanup(s.Close)
	since := url.QueryEscape(time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano))
	for range 3 {
		s.AddLogEvent(okta.LogEvent{EventType: okta.EventUserRiskDetect})
	}
	st, h, b := call(t, s, http.MethodGet, "/api/v1/logs?limit=2&since="+since, "SSWS "+token)
	require.Equal(t, 200, st)
	evs, err := okta.DecodeLogEvents(b)
	require.NoError(t, err)
	assert.Len(t, evs, 2)
	next := linkNext(h)
	require.NotEmpty(t, next)
	for _, want := range []int{1, 0, 0} {
		st, h, b = call(t, s, http.MethodGet, strings.TrimPrefix(next, s.URL), "SSWS "+token)
		require.Equal(t, 200, st)
		evs, err = okta.DecodeLogEvents(b)
		require.NoError(t, err)
		assert.Len(t, evs, want)
		next = linkNext(h)
		require.NotEmpty(t, next, "polling mode always has a next link")
	}
	s.AddLogEvent(okta.LogEvent{EventType: okta.EventUserRiskChange})
	_, _, b = call(t, s, http.MethodGet, strings.TrimPrefix(next, s.URL), "SSWS "+token)
	evs, err = okta.DecodeLogEvents(b)
	require.NoError(t, err)
	require.Len(t, evs, 1, "an event appended later appears on the next page")
	assert.Equal(t, okta.EventUserRiskChange, evs[0].EventType)

	st, _, b = call(t, s, http.MethodGet, "/api/v1/logs?until=not-a-date", "SSWS "+token)
	assert.Equal(t, 400, st)
	e := apiError(t, b)
	assert.Equal(t, okta.CodeAPIValidation, e.ErrorCode)
	assert.Len(t, e.ErrorCauses, 2)
}

func linkNext(h http.Header) string {
	for _, v := range h.Values("Link") {
		if strings.HasSuffix(v, `rel="next"`) {
			return strings.TrimSuffix(strings.TrimPrefix(v, "<"), `>; rel="next"`)
		}
	}
	return ""
}

func TestRateLimitHeaders(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer(oktatest.Options{APIToken: token, RateLimit: 2})
	t.Cleanup(s.Close)
	id, err := s.AddUser(oktatest.UserSpec{Login: "a@example.com"})
	require.NoError(t, err)
	for i, want := range []int{200, 200, 429} {
		st, h, b := call(t, s, http.MethodGet, "/api/v1/users/"+id, "SSWS "+token)
		require.Equal(t, want, st, "request %d", i+1)
		assert.Equal(t, "2", h.Get("X-Rate-Limit-Limit"))
		assert.Equal(t, []string{"1", "0", "0"}[i], h.Get("X-Rate-Limit-Remaining"))
		assert.NotEmpty(t, h.Get("X-Rate-Limit-Reset"))
		if want == 429 {
			assert.Equal(t, okta.CodeRateLimited, apiError(t, b).ErrorCode)
		}
	}
	// Another endpoint has its own bucket.
	st, _, _ := call(t, s, http.MethodGet, "/api/v1/users/"+id+"/roles", "SSWS "+token)
	assert.Equal(t, 200, st)
}

func TestOAuthScopes(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer(oktatest.Options{})
	t.Cleanup(s.Close)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	s.AddOAuthClient("0oaapp", jose.JSONWebKey{Key: &key.PublicKey}, okta.ScopeUsersRead)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	require.NoError(t, err)
	assertion := func(aud, jti string) string {
		now := time.Now()
		a, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: "0oaapp", Subject: "0oaapp", Audience: jwt.Audience{aud}, ID: jti,
			IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		require.NoError(t, err)
		return a
	}
	tokenReq := func(a, scope string) (int, map[string]any) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
		resp, err := s.HTTPClient().PostForm(s.URL+"/oauth2/v1/token", form)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
		return resp.StatusCode, body
	}
	tokenURL := s.URL + "/oauth2/v1/token"
	st, body := tokenReq(assertion(tokenURL, "j1"), okta.ScopeUsersRead)
	require.Equal(t, 200, st, "%v", body)
	at := body["access_token"].(string)
	st, _ = tokenReq(assertion(tokenURL, "j1"), okta.ScopeUsersRead)
	assert.Equal(t, 401, st, "a replayed jti must be refused")
	st, body = tokenReq(assertion("https://elsewhere.example/token", "j2"), okta.ScopeUsersRead)
	assert.Equal(t, 401, st, "an assertion for another audience must be refused")
	assert.Equal(t, "invalid_client", body["error"])
	st, body = tokenReq(assertion(tokenURL, "j3"), okta.ScopeRolesRead)
	assert.Equal(t, 400, st)
	assert.Equal(t, "invalid_scope", body["error"])

	id, err := s.AddUser(oktatest.UserSpec{Login: "a@example.com"})
	require.NoError(t, err)
	st, _, _ = call(t, s, http.MethodGet, "/api/v1/users/"+id, "Bearer "+at)
	assert.Equal(t, 200, st)
	st, h, b := call(t, s, http.MethodGet, "/api/v1/users/"+id+"/roles", "Bearer "+at)
	assert.Equal(t, 403, st, "a token without okta.roles.read")
	assert.Equal(t, okta.CodeNoPermission, apiError(t, b).ErrorCode)
	assert.Contains(t, h.Get("WWW-Authenticate"), "insufficient_scope")
}

func TestDeliverEventHooks(t *testing.T) {
	t.Parallel()
	s := oktatest.NewServer(oktatest.Options{APIToken: token})
	t.Cleanup(s.Close)
	var (
		mu     sync.Mutex
		seen   []string
		status = http.StatusOK
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Authorization") != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		b, _ := io.ReadAll(r.Body)
		h, err := okta.DecodeEventHook(b)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if status == http.StatusOK {
			for _, e := range h.Events {
				seen = append(seen, e.EventType)
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(recv.Close)
	deliver := func(secret string) int {
		st, err := s.DeliverEventHooks(t.Context(), recv.Client(), recv.URL, "Authorization", secret, nil)
		require.NoError(t, err)
		return st
	}
	for range oktatest.HookBatch + 1 {
		s.AddLogEvent(okta.LogEvent{EventType: okta.EventUserRiskDetect})
	}
	require.Equal(t, http.StatusOK, deliver("secret"))
	require.Len(t, seen, oktatest.HookBatch+1, "every event delivered, in batches")
	require.Equal(t, http.StatusOK, deliver("secret"))
	require.Len(t, seen, oktatest.HookBatch+1, "delivered events are not sent again")
	s.AddLogEvent(okta.LogEvent{EventType: okta.EventUserRiskChange})
	require.Equal(t, http.StatusUnauthorized, deliver("wrong"))
	mu.Lock()
	status = http.StatusServiceUnavailable
	mu.Unlock()
	require.Equal(t, http.StatusServiceUnavailable, deliver("secret"))
	mu.Lock()
	status = http.StatusOK
	mu.Unlock()
	require.Equal(t, http.StatusOK, deliver("secret"))
	assert.Equal(t, okta.EventUserRiskChange, seen[len(seen)-1], "a refused delivery is sent again")
	assert.Len(t, seen, oktatest.HookBatch+2)
}
