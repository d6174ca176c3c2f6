package entra

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" // x5t is a SHA-1 thumbprint by definition; it identifies the certificate, it protects nothing
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// ClientAssertionType is the client_assertion_type of a certificate
// credential (RFC 7523).
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// assertionLifetime bounds a client assertion's validity: long enough for
// one token request, short enough to be useless if captured.
const assertionLifetime = 5 * time.Minute

type tokenFetcher func(ctx context.Context) (*oauth2.Token, error)

func newTokenSource(cfg Config, tokenURL, scope string) (tokenFetcher, error) {
	base := clientcredentials.Config{
		ClientID:  cfg.ClientID,
		TokenURL:  tokenURL,
		Scopes:    []string{scope},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	if cfg.ClientSecret != "" {
		base.ClientSecret = cfg.ClientSecret
		return base.Token, nil
	}
	key, ok := cfg.PrivateKey.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("entra: Config.PrivateKey is a %T; Microsoft accepts RSA keys (RS256/PS256) for client assertions", cfg.PrivateKey)
	}
	if pub, ok := cfg.Certificate.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&key.PublicKey) {
		return nil, errors.New("entra: Config.PrivateKey does not match Config.Certificate's public key")
	}
	s256 := sha256.Sum256(cfg.Certificate.Raw)
	s1 := sha1.Sum(cfg.Certificate.Raw)
	opts := (&jose.SignerOptions{}).WithType("JWT").
		WithHeader("x5t#S256", base64.RawURLEncoding.EncodeToString(s256[:])).
		WithHeader("x5t", base64.RawURLEncoding.EncodeToString(s1[:]))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("entra: building the client assertion signer: %w", err)
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		assertion, err := ClientAssertion(signer, cfg.ClientID, tokenURL, time.Now())
		if err != nil {
			return nil, err
		}
		conf := base
		conf.EndpointParams = url.Values{
			"client_assertion_type": {ClientAssertionType},
			"client_assertion":      {assertion},
		}
		return conf.Token(ctx)
	}, nil
}

// ClientAssertion returns a signed client assertion for clientID at the
// token endpoint tokenURL, as Microsoft's certificate credential requires:
// aud is tokenURL, iss and sub are clientID, a random jti, nbf and iat at
// now and exp five minutes later. signer must carry the x5t#S256 (and, for
// older endpoints, x5t) header of the registered certificate. The result is
// a credential: never log it.
func ClientAssertion(signer jose.Signer, clientID, tokenURL string, now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("entra: client assertion jti: %w", err)
	}
	claims := jwt.Claims{
		Issuer:    clientID,
		Subject:   clientID,
		Audience:  jwt.Audience{tokenURL},
		ID:        hex.EncodeToString(b[:]),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(assertionLifetime)),
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		return "", fmt.Errorf("entra: signing the client assertion: %w", err)
	}
	return s, nil
}

// tokenCache holds the current access token and fetches a new one when it
// expires or Graph refuses it.
type tokenCache struct {
	fetch tokenFetcher
	http  *http.Client

	mu  sync.Mutex
	tok *oauth2.Token
	gen int
}

// token returns a valid token and its generation.
func (t *tokenCache) token(ctx context.Context) (string, int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.Valid() {
		return t.tok.AccessToken, t.gen, nil
	}
	tok, err := t.fetch(context.WithValue(ctx, oauth2.HTTPClient, t.http))
	if err != nil {
		return "", 0, tokenError(ctx, err)
	}
	if tok.AccessToken == "" {
		return "", 0, &playbook.ProviderError{Provider: ProviderName, Op: "token", Err: playbook.ErrUnauthenticated, Message: "the token endpoint returned no access token"}
	}
	t.tok = tok
	t.gen++
	return tok.AccessToken, t.gen, nil
}

// invalidate drops the token of generation gen, so that the next call
// fetches a new one. A newer token (fetched meanwhile) is kept.
func (t *tokenCache) invalidate(gen int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.gen == gen {
		t.tok = nil
	}
}

// TokenError is the OAuth error body of the Microsoft identity platform's
// token endpoint (not the Graph error shape). Each field holds the body's
// member named by its JSON tag.
type TokenError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	TraceID     string `json:"trace_id"`
	Correlation string `json:"correlation_id"`
}

// ParseTokenError decodes a token endpoint error body. It fails, saying
// why, on a body that is not a JSON object or has no "error".
func ParseTokenError(body []byte) (TokenError, error) {
	var te TokenError
	if err := json.Unmarshal(body, &te); err != nil {
		return TokenError{}, fmt.Errorf("entra: token error body: %w", err)
	}
	if te.Error == "" {
		return TokenError{}, errors.New(`entra: token error body has no "error" field`)
	}
	return te, nil
}

// Code returns the error with its first AADSTS code ("invalid_client
// AADSTS7000215"), or the error alone.
func (e TokenError) Code() string {
	if len(e.Codes) > 0 {
		return fmt.Sprintf("%s AADSTS%d", e.Error, e.Codes[0])
	}
	return e.Error
}

// tokenError translates a token fetch failure into a ProviderError.
func tokenError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return &playbook.ProviderError{Provider: ProviderName, Op: "token", Err: playbook.ErrUnavailable, Message: "token request failed: " + redactURLError(err)}
	}
	pe := &playbook.ProviderError{Provider: ProviderName, Op: "token"}
	if re.Response != nil {
		pe.Status = re.Response.StatusCode
	}
	te, perr := ParseTokenError(re.Body)
	if perr != nil {
		pe.Message = "the token endpoint answered without an OAuth error body"
	} else {
		pe.Code = te.Code()
		pe.Message = firstLine(te.Description)
	}
	switch {
	case pe.Status == http.StatusTooManyRequests:
		pe.Err = playbook.ErrThrottled
		if re.Response != nil {
			pe.RetryAfter, _ = ParseRetryAfter(re.Response.Header.Get("Retry-After"), time.Now())
		}
	case pe.Status >= 500 || te.Error == "temporarily_unavailable":
		pe.Err = playbook.ErrUnavailable
	case te.Error == "invalid_client" || te.Error == "unauthorized_client" || pe.Status == http.StatusUnauthorized:
		pe.Err = playbook.ErrUnauthenticated
	case te.Error == "invalid_scope" || te.Error == "invalid_request" || te.Error == "unsupported_grant_type":
		pe.Err = playbook.ErrInvalidRequest
	case pe.Status == http.StatusForbidden:
		pe.Err = playbook.ErrPermissionDenied
	default:
		pe.Err = playbook.ErrUnauthenticated
	}
	return pe
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return s
}

// redactURLError keeps a transport error's cause without the URL's query,
// which never holds secrets here but is noise.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " " + stripQuery(ue.URL) + ": " + ue.Err.Error()
	}
	return err.Error()
}

func stripQuery(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
