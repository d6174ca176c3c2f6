package entra_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

// plan runs disable-user's Plan, a read-only call that needs a token.
func plan(t *testing.T, f fixture, s playbook.Subject) error {
	pl, _ := playbook.AsPlanner(f.action(t, playbook.ActionDisableUser))
	_, err := pl.Plan(t.Context(), req(s, "k", nil))
	return err
}

func TestTokenReusedRefreshedOnceAndRenewedOnExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		require.NoError(t, plan(t, f, s))
		require.NoError(t, plan(t, f, s))
		assert.Equal(t, 1, f.emu.TokensIssued(), "a valid token is reused")

		// The emulator expires the token early: Graph answers 401 and the
		// client fetches a new token once, then succeeds.
		f.emu.ExpireTokens()
		require.NoError(t, plan(t, f, s))
		assert.Equal(t, 2, f.emu.TokensIssued())
		assert.Len(t, unauthorized(f.emu), 1, "exactly one request was refused")

		// At the end of its lifetime the client renews before Graph refuses.
		time.Sleep(time.Hour)
		require.NoError(t, plan(t, f, s))
		assert.Equal(t, 3, f.emu.TokensIssued())
		assert.Len(t, unauthorized(f.emu), 1)
	})
}

func unauthorized(emu *entratest.Emulator) []entratest.Request {
	var out []entratest.Request
	for _, r := range emu.Requests() {
		if r.Status == http.StatusUnauthorized && !strings.Contains(r.Path, "oauth2") {
			out = append(out, r)
		}
	}
	return out
}

func TestRevokedCredentialIsPermanent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		require.NoError(t, plan(t, f, s))
		f.emu.RevokeApp(testClientID)
		before := len(f.emu.Requests())
		err := plan(t, f, s)
		require.ErrorIs(t, err, playbook.ErrUnauthenticated)
		assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
		var pe *playbook.ProviderError
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, "invalid_client AADSTS7000222", pe.Code)
		assert.NotContains(t, err.Error(), testSecret)
		// One refused Graph call, one refused token request: no loop.
		assert.Len(t, f.emu.Requests()[before:], 2)
	})
}

func TestTokenErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		cfg      func(c *entra.Config, emu *entratest.Emulator)
		sentinel error
		code     string
	}{
		{"wrong secret", func(c *entra.Config, _ *entratest.Emulator) { c.ClientSecret = "wrong-" + testSecret }, playbook.ErrUnauthenticated, "invalid_client AADSTS7000215"},
		{"unknown app", func(c *entra.Config, _ *entratest.Emulator) { c.ClientID = "no-such-app" }, playbook.ErrUnauthenticated, "unauthorized_client AADSTS700016"},
		{"invalid scope", func(c *entra.Config, _ *entratest.Emulator) { c.Scope = "https://foo.microsoft.com/User.Read" }, playbook.ErrInvalidRequest, "invalid_scope AADSTS70011"},
		{"unknown tenant", func(c *entra.Config, emu *entratest.Emulator) {
			c.TokenURL = strings.Replace(emu.TokenURL(), emu.TenantID(), "fabrikam.example", 1)
		}, playbook.ErrInvalidRequest, "invalid_request AADSTS90002"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := entratest.New(entratest.Options{})
			mustOK(t, emu.AddSecretApp(testClientID, testSecret))
			cfg := entra.Config{TenantID: emu.TenantID(), ClientID: testClientID, ClientSecret: testSecret,
				GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL(), HTTPClient: emu.Client()}
			tc.cfg(&cfg, emu)
			c, err := entra.New(cfg)
			require.NoError(t, err)
			f := fixture{emu: emu, c: c}
			s := f.user(t, "ana@contoso.example", nil)
			err = plan(t, f, s)
			require.ErrorIs(t, err, tc.sentinel)
			assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err))
			var pe *playbook.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.code, pe.Code)
			assert.Equal(t, "token", pe.Op)
			assert.NotContains(t, err.Error(), testSecret, "the secret leaked into the error")
			assert.Empty(t, requestsTo(emu, http.MethodGet, "/users/"), "no Graph call without a token")
		})
	}
}

func TestCertificateCredential(t *testing.T) {
	t.Parallel()
	cert, key := newCert(t)
	other, _ := newCert(t)
	for _, tc := range []struct {
		name       string
		registered bool
		wantErr    string
	}{
		{"registered certificate", true, ""},
		{"another certificate registered", false, "invalid_client AADSTS700027"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			emu := entratest.New(entratest.Options{})
			reg := other
			if tc.registered {
				reg = cert
			}
			mustOK(t, emu.AddCertificateApp(testClientID, reg))
			c, err := entra.New(entra.Config{TenantID: emu.TenantID(), ClientID: testClientID, Certificate: cert, PrivateKey: key,
				GraphURL: emu.GraphURL(), TokenURL: emu.TokenURL(), HTTPClient: emu.Client()})
			require.NoError(t, err)
			f := fixture{emu: emu, c: c}
			s := f.user(t, "ana@contoso.example", nil)
			err = plan(t, f, s)
			if tc.wantErr == "" {
				require.NoError(t, err)
				// A new token needs a new assertion (fresh jti): no replay.
				emu.ExpireTokens()
				require.NoError(t, plan(t, f, s))
				assert.Equal(t, 2, emu.TokensIssued())
				return
			}
			var pe *playbook.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, tc.wantErr, pe.Code)
			assert.ErrorIs(t, err, playbook.ErrUnauthenticated)
		})
	}
}

func TestClientAssertion(t *testing.T) {
	t.Parallel()
	cert, key := newCert(t)
	emu := entratest.New(entratest.Options{})
	mustOK(t, emu.AddCertificateApp(testClientID, cert))
	tokenURL := emu.TokenURL()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("x5t#S256", thumbprint(cert.Raw)))
	require.NoError(t, err)
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	a1, err := entra.ClientAssertion(signer, testClientID, tokenURL, now)
	require.NoError(t, err)
	a2, err := entra.ClientAssertion(signer, testClientID, tokenURL, now)
	require.NoError(t, err)

	tok, err := jwt.ParseSigned(a1, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	assert.Equal(t, thumbprint(cert.Raw), tok.Headers[0].ExtraHeaders["x5t#S256"])
	var c1, c2 jwt.Claims
	require.NoError(t, tok.Claims(&key.PublicKey, &c1))
	tok2, err := jwt.ParseSigned(a2, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	require.NoError(t, tok2.Claims(&key.PublicKey, &c2))
	assert.Equal(t, jwt.Audience{tokenURL}, c1.Audience)
	assert.Equal(t, testClientID, c1.Issuer)
	assert.Equal(t, testClientID, c1.Subject)
	assert.Equal(t, 5*time.Minute, c1.Expiry.Time().Sub(c1.NotBefore.Time()))
	assert.NotEqual(t, c1.ID, c2.ID, "every assertion has its own jti")

	// The emulator refuses a replayed assertion, and an expired one.
	post := func(assertion string) int {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "scope": {"https://graph.microsoft.com/.default"},
			"client_assertion_type": {entra.ClientAssertionType}, "client_assertion": {assertion}}
		r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := emu.Client().Do(r)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	fresh, err := entra.ClientAssertion(signer, testClientID, tokenURL, time.Now())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, post(fresh))
	assert.Equal(t, http.StatusUnauthorized, post(fresh), "replay")
	assert.Equal(t, http.StatusUnauthorized, post(a1), "expired (issued in 2026-07 at noon, five minutes)")
}

func TestNewValidatesConfig(t *testing.T) {
	t.Parallel()
	cert, key := newCert(t)
	_, otherKey := newCert(t)
	base := func() entra.Config {
		return entra.Config{TenantID: "contoso.example", ClientID: testClientID, ClientSecret: testSecret}
	}
	for _, tc := range []struct {
		name string
		mod  func(*entra.Config)
		want string
	}{
		{"no tenant", func(c *entra.Config) { c.TenantID = "" }, "Config.TenantID is required"},
		{"tenant with a slash", func(c *entra.Config) { c.TenantID = "a/b" }, "Config.TenantID"},
		{"no client", func(c *entra.Config) { c.ClientID = " " }, "Config.ClientID is required"},
		{"no credential", func(c *entra.Config) { c.ClientSecret = "" }, "a credential is required"},
		{"both credentials", func(c *entra.Config) { c.Certificate, c.PrivateKey = cert, key }, "not both"},
		{"certificate without key", func(c *entra.Config) { c.ClientSecret, c.Certificate = "", cert }, "must be set together"},
		{"key of another certificate", func(c *entra.Config) { c.ClientSecret, c.Certificate, c.PrivateKey = "", cert, otherKey }, "does not match"},
		{"relative Graph URL", func(c *entra.Config) { c.GraphURL = "/v1.0" }, "Config.GraphURL"},
		{"bad token URL", func(c *entra.Config) { c.TokenURL = "ftp://x/token" }, "Config.TokenURL"},
		{"empty privileged role", func(c *entra.Config) { c.PrivilegedRoleTemplates = []string{"x", ""} }, "Config.PrivilegedRoleTemplates[1]"},
		{"empty privileged group", func(c *entra.Config) { c.PrivilegedGroups = []string{""} }, "Config.PrivilegedGroups[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := base()
			tc.mod(&cfg)
			_, err := entra.New(cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), testSecret)
		})
	}
	_, err := entra.New(base())
	require.NoError(t, err, "the zero value of every optional field works")
}
