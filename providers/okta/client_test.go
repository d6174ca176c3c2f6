package okta_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/okta"
	"github.com/iamplaybook/iamplaybook/providers/okta/oktatest"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name string
		cfg  okta.Config
		want string
	}{
		{"no url", okta.Config{APIToken: "x"}, "OrgURL is required"},
		{"relative url", okta.Config{OrgURL: "example.okta.com", APIToken: "x"}, "not an absolute URL"},
		{"plain http", okta.Config{OrgURL: "http://example.okta.com", APIToken: "x"}, "must use https"},
		{"path", okta.Config{OrgURL: "https://example.okta.com/api", APIToken: "x"}, "without a path"},
		{"no credential", okta.Config{OrgURL: "https://example.okta.com"}, "APIToken or Config.OAuth is required"},
		{"two credentials", okta.Config{OrgURL: "https://example.okta.com", APIToken: "x", OAuth: &okta.OAuthConfig{ClientID: "c", Key: key}}, "only one"},
		{"no client id", okta.Config{OrgURL: "https://example.okta.com", OAuth: &okta.OAuthConfig{Key: key}}, "ClientID is required"},
		{"no key", okta.Config{OrgURL: "https://example.okta.com", OAuth: &okta.OAuthConfig{ClientID: "c"}}, "Key is required"},
		{"token url elsewhere", okta.Config{OrgURL: "https://example.okta.com", OAuth: &okta.OAuthConfig{ClientID: "c", Key: key, TokenURL: "https://evil.example/token"}}, "must be on the org"},
		{"pace", okta.Config{OrgURL: "https://example.okta.com", APIToken: "x", PaceBelow: 2}, "PaceBelow"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := okta.New(tc.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err = okta.New(okta.Config{OrgURL: "http://127.0.0.1:8080", APIToken: "x"})
	require.NoError(t, err, "loopback emulators may use http")
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   error
		code   string
		msg    string
	}{
		{"sample E0000001", 400, string(readTestdata(t, "okta-error-E0000001-api-validation.json")), playbook.ErrInvalidRequest, "E0000001", "until: must be a valid date-time or empty. [errorId dd4998a1-2267-499b-9e4d-ec821fcc5ca9]"},
		{"sample E0000047", 429, string(readTestdata(t, "okta-error-E0000047-rate-limit.json")), playbook.ErrThrottled, "E0000047", "API call exceeded rate limit"},
		{"not found", 404, `{"errorCode":"E0000007","errorSummary":"Not found: Resource not found: x (User)"}`, playbook.ErrNotFound, "E0000007", "Not found"},
		{"invalid token", 401, `{"errorCode":"E0000011","errorSummary":"Invalid token provided"}`, playbook.ErrUnauthenticated, "E0000011", "Invalid token"},
		{"no permission", 403, `{"errorCode":"E0000006","errorSummary":"You do not have permission"}`, playbook.ErrPermissionDenied, "E0000006", "permission"},
		{"status forbids", 403, `{"errorCode":"E0000038","errorSummary":"This operation is not allowed in the user's current status."}`, playbook.ErrConflict, "E0000038", "current status"},
		{"server error", 502, `<html>bad gateway</html>`, playbook.ErrUnavailable, "", "bad gateway"},
		{"oauth error", 401, `{"error":"invalid_client","error_description":"bad assertion"}`, playbook.ErrUnauthenticated, "invalid_client", "bad assertion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Rate-Limit-Reset", "1")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "secret-token-value", ReadRetries: -1})
			require.NoError(t, err)
			_, err = c.GetUser(t.Context(), "u1")
			require.ErrorIs(t, err, tc.want)
			var pe *playbook.ProviderError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, tc.status, pe.Status)
			assert.Equal(t, tc.code, pe.Code)
			assert.Contains(t, pe.Message, tc.msg)
			assert.Equal(t, "GET /api/v1/users/{id}", pe.Op)
			assert.NotContains(t, err.Error(), "secret-token-value")
		})
	}
}

func TestNextLinkStaysOnOrg(t *testing.T) {
	t.Parallel()
	var leaked bool
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked = leaked || r.Header.Get("Authorization") != ""
		_, _ = w.Write([]byte("[]"))
	}))
	t.Cleanup(evil.Close)
	org := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "<"+evil.URL+`/api/v1/users/u1/groups?after=x>; rel="next"`)
		_, _ = w.Write([]byte(`[{"id":"00g1","type":"OKTA_GROUP","profile":{"name":"a"}}]`))
	}))
	t.Cleanup(org.Close)
	c, err := okta.New(okta.Config{OrgURL: org.URL, APIToken: "secret"})
	require.NoError(t, err)
	_, err = c.UserGroups(t.Context(), "u1")
	require.ErrorIs(t, err, playbook.ErrInvalidRequest)
	assert.False(t, leaked, "the API token was sent to another origin")
}

func TestPagingFollowsNext(t *testing.T) {
	t.Parallel()
	e := newEnv(t, okta.ProviderConfig{})
	id := e.user(t, okta.StatusActive)
	for i := range 250 {
		g := e.srv.AddGroup("group-"+strings.Repeat("x", i%3)+string(rune('a'+i%26)), "")
		require.NoError(t, e.srv.AddToGroup(id, g))
	}
	gs, err := e.p.Client().UserGroups(t.Context(), id)
	require.NoError(t, err)
	assert.Len(t, gs, 250)
	assert.GreaterOrEqual(t, e.srv.CountRequests(oktatest.OpUserGroups, 200), 2, "the emulator pages at 200: the client must follow rel=next")
}

func pemKey(t *testing.T, k any) []byte {
	b, err := x509.MarshalPKCS8PrivateKey(k)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: b})
}

func TestOAuthServiceApp(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tests := []struct {
		name string
		key  any
		pub  any
	}{
		{"RS256", rsaKey, &rsaKey.PublicKey},
		{"ES256", ecKey, &ecKey.PublicKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := oktatest.NewServer(oktatest.Options{})
			t.Cleanup(srv.Close)
			srv.AddOAuthClient("0oaservice", tc.pub, okta.ScopeUsersRead, okta.ScopeUsersManage, okta.ScopeRolesRead)
			signer, err := okta.ParsePrivateKey(pemKey(t, tc.key))
			require.NoError(t, err)
			c, err := okta.New(okta.Config{OrgURL: srv.URL, HTTPClient: srv.HTTPClient(), OAuth: &okta.OAuthConfig{ClientID: "0oaservice", Key: signer, KeyID: "k1"}})
			require.NoError(t, err)
			id, err := srv.AddUser(oktatest.UserSpec{Login: "a@example.com"})
			require.NoError(t, err)
			for range 3 {
				_, err = c.GetUser(t.Context(), id)
				require.NoError(t, err)
			}
			assert.Equal(t, 1, srv.TokensIssued(), "the token must be cached until it expires")
			_, err = c.UserRoles(t.Context(), id)
			require.NoError(t, err)
			assert.Equal(t, 2, srv.TokensIssued(), "each operation asks for its own scope")

			// A scope the app was not granted: the token endpoint refuses it.
			_, err = c.UserGroups(t.Context(), id)
			require.ErrorIs(t, err, playbook.ErrPermissionDenied)
			var pe *playbook.ProviderError
			require.True(t, errors.As(err, &pe))
			assert.Equal(t, "invalid_scope", pe.Code)
			for _, r := range srv.Requests() {
				assert.NotEqual(t, "SSWS", r.Auth)
			}
		})
	}
}

func TestOAuthRejections(t *testing.T) {
	t.Parallel()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	srv := oktatest.NewServer(oktatest.Options{})
	t.Cleanup(srv.Close)
	srv.AddOAuthClient("0oaservice", &other.PublicKey, okta.ScopeUsersRead)
	c, err := okta.New(okta.Config{OrgURL: srv.URL, HTTPClient: srv.HTTPClient(), OAuth: &okta.OAuthConfig{ClientID: "0oaservice", Key: key}})
	require.NoError(t, err)
	_, err = c.GetUser(t.Context(), "anyone")
	require.ErrorIs(t, err, playbook.ErrUnauthenticated, "an assertion signed with an unregistered key must be refused")

	// A token without the endpoint's scope gets 403 with Okta's body.
	srv2 := oktatest.NewServer(oktatest.Options{})
	t.Cleanup(srv2.Close)
	srv2.AddOAuthClient("0oaservice", &key.PublicKey, okta.ScopeUsersRead)
	req, err := http.NewRequest(http.MethodGet, srv2.URL+"/api/v1/users/x/roles", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := srv2.HTTPClient().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestAPITokenRefused(t *testing.T) {
	t.Parallel()
	srv := oktatest.NewServer(oktatest.Options{APIToken: "right"})
	t.Cleanup(srv.Close)
	c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "wrong-token", HTTPClient: srv.HTTPClient()})
	require.NoError(t, err)
	_, err = c.GetUser(t.Context(), "u")
	require.ErrorIs(t, err, playbook.ErrUnauthenticated)
	assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
	assert.NotContains(t, err.Error(), "wrong-token")
}

func TestRetryAfterUsesOrgClock(t *testing.T) {
	t.Parallel()
	// The org's clock is years behind ours: the delay is measured from its
	// Date header, not from our clock.
	orgNow := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", orgNow.Format(http.TimeFormat))
		w.Header().Set("X-Rate-Limit-Limit", "600")
		w.Header().Set("X-Rate-Limit-Remaining", "0")
		w.Header().Set("X-Rate-Limit-Reset", strconv.FormatInt(orgNow.Add(7*time.Second).Unix(), 10))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write(readTestdata(t, "okta-error-E0000047-rate-limit.json"))
	}))
	t.Cleanup(srv.Close)
	c, err := okta.New(okta.Config{OrgURL: srv.URL, APIToken: "t", ReadRetries: -1})
	require.NoError(t, err)
	_, err = c.GetUser(t.Context(), "u")
	d, ok := playbook.RetryAfter(err)
	require.True(t, ok)
	assert.Equal(t, 7*time.Second, d)
}
