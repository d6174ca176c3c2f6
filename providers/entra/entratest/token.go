package entratest

import (
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"crypto/rand"
)

const clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenError writes the identity platform's OAuth error body.
func (e *Emulator) tokenError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	now := e.opts.Now().UTC()
	trace, corr := NewID(), NewID()
	body := map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, now.Format("2006-01-02 15:04:05Z")),
		"error_codes":       []int{aadsts},
		"timestamp":         now.Format("2006-01-02 15:04:05Z"),
		"trace_id":          trace,
		"correlation_id":    corr,
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// serveToken implements POST /{tenant}/oauth2/v2.0/token for the client
// credentials grant, with a secret or a certificate assertion. It returns
// the status and the client id for the request log.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request, tenant string) (int, string) {
	if r.Method != http.MethodPost {
		e.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
		return http.StatusMethodNotAllowed, ""
	}
	if !strings.EqualFold(tenant, e.opts.TenantID) && !strings.EqualFold(tenant, e.opts.TenantDomain) {
		e.tokenError(w, http.StatusBadRequest, "invalid_request", 90002, fmt.Sprintf("Tenant '%s' not found.", tenant))
		return http.StatusBadRequest, ""
	}
	if err := r.ParseForm(); err != nil {
		e.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return http.StatusBadRequest, ""
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	if f.Get("grant_type") != "client_credentials" {
		e.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return http.StatusBadRequest, clientID
	}
	if scope := f.Get("scope"); !strings.HasSuffix(scope, "/.default") {
		e.tokenError(w, http.StatusBadRequest, "invalid_scope", 70011, fmt.Sprintf("The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", scope))
		return http.StatusBadRequest, clientID
	}
	secret, assertion := f.Get("client_secret"), f.Get("client_assertion")
	if user, pass, ok := r.BasicAuth(); ok {
		clientID, secret = cmp(clientID, user), pass
	}
	e.mu.Lock()
	a := e.apps[clientID]
	e.mu.Unlock()
	if a == nil {
		e.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory.", clientID))
		return http.StatusBadRequest, clientID
	}
	now := e.opts.Now()
	switch {
	case a.revoked:
		e.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000222, "The provided client secret keys are expired or the credential was removed.")
		return http.StatusUnauthorized, clientID
	case secret != "":
		if a.secret == nil || subtle.ConstantTimeCompare([]byte(secret), a.secret) != 1 {
			e.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
			return http.StatusUnauthorized, clientID
		}
	case assertion != "":
		if f.Get("client_assertion_type") != clientAssertionType {
			e.tokenError(w, http.StatusBadRequest, "invalid_request", 50027, "client_assertion_type is not "+clientAssertionType+".")
			return http.StatusBadRequest, clientID
		}
		if code, msg := e.checkAssertion(a, clientID, assertion, e.requestURL(r), now); code != 0 {
			e.tokenError(w, http.StatusUnauthorized, "invalid_client", code, msg)
			return http.StatusUnauthorized, clientID
		}
	default:
		e.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return http.StatusUnauthorized, clientID
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	tok := "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0." + hex.EncodeToString(b[:])
	e.mu.Lock()
	e.tokens[tok] = token{clientID: clientID, expires: now.Add(e.opts.TokenLifetime)}
	e.mu.Unlock()
	secs := int(e.opts.TokenLifetime / time.Second)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
	return http.StatusOK, clientID
}

func (e *Emulator) requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// checkAssertion validates a client assertion the way the identity
// platform does; it returns 0 or an AADSTS code and message.
func (e *Emulator) checkAssertion(a *app, clientID, assertion, tokenURL string, now time.Time) (int, string) {
	if a.cert == nil {
		return 700027, "Client assertion failed signature validation: the application has no certificate credential."
	}
	tok, err := jwt.ParseSigned(assertion, []jose.SignatureAlgorithm{jose.RS256, jose.PS256})
	if err != nil || len(tok.Headers) != 1 {
		return 700027, "Client assertion is not a valid signed JWT."
	}
	h := tok.Headers[0]
	s256 := sha256.Sum256(a.cert.Raw)
	s1 := sha1.Sum(a.cert.Raw) //nolint:gosec // see import
	x5tS256, _ := h.ExtraHeaders["x5t#S256"].(string)
	x5t, _ := h.ExtraHeaders["x5t"].(string)
	switch {
	case x5tS256 != "":
		if x5tS256 != base64.RawURLEncoding.EncodeToString(s256[:]) {
			return 700027, "Client assertion contains an invalid signature. Key was not found (x5t#S256 matches no registered certificate)."
		}
	case x5t != "":
		if x5t != base64.RawURLEncoding.EncodeToString(s1[:]) {
			return 700027, "Client assertion contains an invalid signature. Key was not found (x5t matches no registered certificate)."
		}
	default:
		return 700027, "Client assertion names no certificate thumbprint (x5t#S256 or x5t)."
	}
	pub, ok := a.cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return 700027, "The registered certificate's key is not RSA."
	}
	var c jwt.Claims
	if err := tok.Claims(pub, &c); err != nil {
		return 700027, "Client assertion failed signature validation."
	}
	if c.Issuer != clientID || c.Subject != clientID {
		return 700027, "Client assertion iss and sub must be the client id."
	}
	if !c.Audience.Contains(tokenURL) {
		return 700027, fmt.Sprintf("Client assertion audience is not the token endpoint %s.", tokenURL)
	}
	if c.ID == "" {
		return 700027, "Client assertion has no jti."
	}
	if c.Expiry == nil || !now.Before(c.Expiry.Time()) || (c.NotBefore != nil && now.Add(5*time.Minute).Before(c.NotBefore.Time())) {
		return 700024, "Client assertion is not within its valid time range."
	}
	if c.Expiry.Time().Sub(now) > 24*time.Hour {
		return 700024, "Client assertion lifetime is too long."
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.jtis[c.ID] {
		return 700027, "Client assertion jti was already used (replay)."
	}
	e.jtis[c.ID] = true
	return 0, ""
}
