package oktatest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessTokenLifetime is the lifetime of the emulator's access tokens, as
// Okta's (fixed at one hour).
const AccessTokenLifetime = time.Hour

func oauthError(w http.ResponseWriter, status int, code, desc string) int {
	return writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// token is the org authorization server's token endpoint for service apps:
// client_credentials with a private_key_jwt client assertion.
func (s *Server) token(w http.ResponseWriter, r *http.Request) (int, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return oauthError(w, http.StatusBadRequest, "invalid_request", "The request body could not be parsed."), false
	}
	f := r.PostForm
	if f.Get("grant_type") != "client_credentials" {
		return oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "The authorization grant type is not supported by the authorization server."), false
	}
	if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_assertion") == "" {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed: private_key_jwt client assertion required."), false
	}
	tok, err := jwt.ParseSigned(f.Get("client_assertion"), []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.ES256, jose.ES384, jose.ES512})
	if err != nil {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion is not a valid JWT."), false
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || unverified.Issuer == "" {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion has no iss claim."), false
	}
	s.mu.Lock()
	client, ok := s.clients[unverified.Issuer]
	s.mu.Unlock()
	if !ok {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_id is not registered."), false
	}
	var claims jwt.Claims
	if err := tok.Claims(client.key, &claims); err != nil {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion signature is invalid."), false
	}
	now := time.Now()
	tokenURL := s.URL + "/oauth2/v1/token"
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: unverified.Issuer, Subject: unverified.Issuer, AnyAudience: jwt.Audience{tokenURL}, Time: now}, 0); err != nil {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion is invalid: "+err.Error()), false
	}
	if claims.Expiry == nil || claims.Expiry.Time().After(now.Add(time.Hour)) {
		return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion exp must be at most one hour in the future."), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if claims.ID != "" {
		if _, used := s.jtis[claims.ID]; used {
			return oauthError(w, http.StatusUnauthorized, "invalid_client", "The client_assertion jti has already been used."), false
		}
		s.jtis[claims.ID] = claims.Expiry.Time()
	}
	scopes := strings.Fields(f.Get("scope"))
	if len(scopes) == 0 {
		return oauthError(w, http.StatusBadRequest, "invalid_scope", "The authorization server requires a scope for the client_credentials grant."), false
	}
	for _, sc := range scopes {
		if !slices.Contains(client.scopes, sc) {
			return oauthError(w, http.StatusBadRequest, "invalid_scope", "One or more scopes are not configured for the authorization server resource."), false
		}
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	at := "oktatest-at-" + hex.EncodeToString(b)
	s.access[at] = accessToken{client: unverified.Issuer, scopes: scopes, expires: now.Add(AccessTokenLifetime)}
	return writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": int(AccessTokenLifetime / time.Second), "access_token": at, "scope": strings.Join(scopes, " "),
	}), false
}

// TokensIssued returns how many access tokens the token endpoint issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.access)
}
