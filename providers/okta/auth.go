package okta

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// assertionLifetime is the exp of a client assertion: short, as Okta
// allows at most one hour.
const assertionLifetime = 5 * time.Minute

// tokenMargin renews a cached access token this long before it expires.
const tokenMargin = time.Minute

// tokenSource fetches and caches access tokens per scope with the
// client-credentials grant and a private_key_jwt client assertion.
type tokenSource struct {
	c        *Client
	clientID string
	tokenURL string
	signer   jose.Signer

	mu     sync.Mutex
	cache  map[string]cachedToken
	flight map[string]*flight
}

type cachedToken struct {
	value   string
	expires time.Time
}

type flight struct {
	done chan struct{}
	tok  string
	err  error
}

func newTokenSource(c *Client, cfg OAuthConfig) (*tokenSource, error) {
	if strings.TrimSpace(cfg.ClientID) == "" {
		return nil, errors.New("okta: Config.OAuth.ClientID is required")
	}
	if cfg.Key == nil {
		return nil, errors.New("okta: Config.OAuth.Key is required")
	}
	alg, err := signingAlg(cfg.Key)
	if err != nil {
		return nil, err
	}
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if cfg.KeyID != "" {
		opts = opts.WithHeader("kid", cfg.KeyID)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: cfg.Key}, opts)
	if err != nil {
		return nil, fmt.Errorf("okta: Config.OAuth.Key: %w", err)
	}
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = c.base.String() + "/oauth2/v1/token"
	} else if u, err := url.Parse(tokenURL); err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
		return nil, fmt.Errorf("okta: Config.OAuth.TokenURL %q must be on the org %s", tokenURL, c.base)
	}
	return &tokenSource{c: c, clientID: cfg.ClientID, tokenURL: tokenURL, signer: signer,
		cache: map[string]cachedToken{}, flight: map[string]*flight{}}, nil
}

func signingAlg(k crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch key := k.(type) {
	case *rsa.PrivateKey:
		if key.N.BitLen() < 2048 {
			return "", fmt.Errorf("okta: Config.OAuth.Key: RSA key of %d bits, at least 2048 required", key.N.BitLen())
		}
		return jose.RS256, nil
	case *ecdsa.PrivateKey:
		switch key.Curve {
		case elliptic.P256():
			return jose.ES256, nil
		case elliptic.P384():
			return jose.ES384, nil
		case elliptic.P521():
			return jose.ES512, nil
		}
	}
	return "", fmt.Errorf("okta: Config.OAuth.Key: unsupported key type %T (want an RSA or P-256/384/521 ECDSA private key)", k)
}

// ParsePrivateKey reads a PEM-encoded RSA or ECDSA private key (PKCS #8,
// PKCS #1 or SEC 1) for OAuthConfig.Key. Errors never quote the key.
func ParsePrivateKey(pemBytes []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("okta: private key: no PEM block found")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("okta: private key: unsupported PKCS #8 key type %T", k)
		}
		if _, err := signingAlg(s); err != nil {
			return nil, err
		}
		return s, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("okta: private key: PEM block %q is not a PKCS #8, PKCS #1 or SEC 1 private key", block.Type)
}

func (ts *tokenSource) invalidate(scope string) {
	ts.mu.Lock()
	delete(ts.cache, scope)
	ts.mu.Unlock()
}

// token returns a cached token for scope or fetches one; concurrent callers
// share one fetch.
func (ts *tokenSource) token(ctx context.Context, scope string) (string, error) {
	ts.mu.Lock()
	if t, ok := ts.cache[scope]; ok && time.Now().Before(t.expires) {
		ts.mu.Unlock()
		return t.value, nil
	}
	f, ok := ts.flight[scope]
	if !ok {
		f = &flight{done: make(chan struct{})}
		ts.flight[scope] = f
		go ts.fetch(context.WithoutCancel(ctx), scope, f)
	}
	ts.mu.Unlock()
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case <-f.done:
		return f.tok, f.err
	}
}

func (ts *tokenSource) fetch(ctx context.Context, scope string, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tok, exp, err := ts.request(ctx, scope)
	ts.mu.Lock()
	if err == nil {
		ts.cache[scope] = cachedToken{value: tok, expires: exp}
	}
	delete(ts.flight, scope)
	ts.mu.Unlock()
	f.tok, f.err = tok, err
	close(f.done)
}

// assertion signs a client assertion: iss = sub = client id, aud = the
// token endpoint, a unique jti, a short exp.
func (ts *tokenSource) assertion(now time.Time) (string, error) {
	claims := jwt.Claims{
		Issuer:   ts.clientID,
		Subject:  ts.clientID,
		Audience: jwt.Audience{ts.tokenURL},
		IssuedAt: jwt.NewNumericDate(now),
		Expiry:   jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID:       uuid.NewString(),
	}
	return jwt.Signed(ts.signer).Claims(claims).Serialize()
}

func (ts *tokenSource) request(ctx context.Context, scope string) (string, time.Time, error) {
	const op = "POST /oauth2/v1/token"
	now := time.Now()
	assertion, err := ts.assertion(now)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("okta: signing the client assertion: %w", err)
	}
	form := url.Values{
		"grant_type":            {"client_credentials"},
		"scope":                 {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
		"client_assertion":      {assertion},
	}
	if err := ts.c.limits.wait(ctx, op); err != nil {
		return "", time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("okta %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return "", time.Time{}, ctx.Err()
		}
		return "", time.Time{}, &playbook.ProviderError{Provider: ts.c.name, Op: op, Message: redactURLError(err), Err: playbook.ErrUnavailable}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	ts.c.limits.observe(op, resp.StatusCode, resp.Header)
	if err != nil {
		return "", time.Time{}, &playbook.ProviderError{Provider: ts.c.name, Op: op, Status: resp.StatusCode, Message: "reading the response: " + err.Error(), Err: playbook.ErrUnavailable}
	}
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, ts.c.apiError(op, resp.StatusCode, resp.Header, data)
	}
	var body struct {
		TokenType   string `json:"token_type"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(data, &body); err != nil || body.AccessToken == "" || !strings.EqualFold(body.TokenType, "Bearer") {
		return "", time.Time{}, &playbook.ProviderError{Provider: ts.c.name, Op: op, Status: resp.StatusCode,
			Message: "the token response has no Bearer access_token", Err: playbook.ErrUnavailable}
	}
	life := time.Duration(body.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Hour
	}
	exp := now.Add(life - tokenMargin)
	if life <= 2*tokenMargin {
		exp = now.Add(life / 2)
	}
	return body.AccessToken, exp, nil
}
