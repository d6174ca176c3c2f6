package ssf

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// KeySource supplies a transmitter's verification keys. *KeySet is the
// implementation that fetches them from a jwks_uri. Keys returns the keys
// whose kid is kid (every key when kid is empty); its errors should wrap
// ErrUnknownKey (no such key) or ErrUnavailable (try again later). It must
// be safe for concurrent use.
type KeySource interface {
	Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error)
}

// Verifier defaults.
const (
	// DefaultMaxAge is how old a SET's iat may be. Poll delivery can hand
	// over SETs that waited at the transmitter, so it is generous.
	DefaultMaxAge = 24 * time.Hour
	// DefaultMaxSkew is how far in the future a SET's iat may be.
	DefaultMaxSkew = 5 * time.Minute
	// DefaultMaxTokenBytes bounds one compact SET.
	DefaultMaxTokenBytes = 64 << 10
)

// DefaultAlgorithms is the default signature allow-list: RSA PKCS#1 v1.5,
// RSA-PSS and ECDSA with SHA-2. "none" and the HMAC algorithms are never
// accepted (an HMAC "verified" with a public key proves nothing).
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Issuer is the transmitter's issuer; a SET's iss must equal it.
	// Required.
	Issuer string
	// Audience lists the values that identify this receiver; a SET's aud
	// (a string or an array) must contain one of them. Required.
	Audience []string
	// Keys supplies the transmitter's keys. Required.
	Keys KeySource
	// Algorithms restricts the accepted JWS algorithms; every entry must
	// be in DefaultAlgorithms. Nil means DefaultAlgorithms.
	Algorithms []string
	// MaxAge bounds how old iat may be; zero means DefaultMaxAge.
	MaxAge time.Duration
	// MaxSkew bounds how far in the future iat may be; zero means
	// DefaultMaxSkew.
	MaxSkew time.Duration
	// MaxTokenBytes bounds a compact SET; zero means DefaultMaxTokenBytes.
	MaxTokenBytes int
}

// Verifier checks Security Event Tokens: compact JWS, an allow-listed
// algorithm, typ "secevent+jwt" when typ is present, a signature by one of
// the transmitter's keys, the issuer, the audience and the iat window. It
// does not check jti uniqueness: the Receiver does, with its replay cache
// and the runner's store. A Verifier is immutable and safe for concurrent
// use.
type Verifier struct {
	cfg  VerifierConfig
	algs []jose.SignatureAlgorithm
}

// NewVerifier checks cfg and returns a verifier. The error names the field
// at fault.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if strings.TrimSpace(cfg.Issuer) == "" {
		return nil, errors.New("ssf: VerifierConfig.Issuer is required")
	}
	if len(cfg.Audience) == 0 || slices.Contains(cfg.Audience, "") {
		return nil, errors.New("ssf: VerifierConfig.Audience needs at least one non-empty value")
	}
	if cfg.Keys == nil {
		return nil, errors.New("ssf: VerifierConfig.Keys is required")
	}
	if cfg.MaxAge < 0 || cfg.MaxSkew < 0 || cfg.MaxTokenBytes < 0 {
		return nil, errors.New("ssf: VerifierConfig.MaxAge, MaxSkew and MaxTokenBytes must not be negative")
	}
	if cfg.Algorithms == nil {
		cfg.Algorithms = DefaultAlgorithms
	}
	if len(cfg.Algorithms) == 0 {
		return nil, errors.New("ssf: VerifierConfig.Algorithms is empty")
	}
	v := &Verifier{cfg: cfg}
	for _, a := range cfg.Algorithms {
		if !slices.Contains(DefaultAlgorithms, a) {
			return nil, fmt.Errorf("ssf: VerifierConfig.Algorithms: %q is not an accepted SET algorithm (want one of %s)", a, strings.Join(DefaultAlgorithms, ", "))
		}
		v.algs = append(v.algs, jose.SignatureAlgorithm(a))
	}
	v.cfg.Algorithms = slices.Clone(cfg.Algorithms)
	v.cfg.Audience = slices.Clone(cfg.Audience)
	if v.cfg.MaxAge == 0 {
		v.cfg.MaxAge = DefaultMaxAge
	}
	if v.cfg.MaxSkew == 0 {
		v.cfg.MaxSkew = DefaultMaxSkew
	}
	if v.cfg.MaxTokenBytes == 0 {
		v.cfg.MaxTokenBytes = DefaultMaxTokenBytes
	}
	return v, nil
}

// Issuer returns the configured issuer.
func (v *Verifier) Issuer() string { return v.cfg.Issuer }

// MaxAge returns the accepted age of iat.
func (v *Verifier) MaxAge() time.Duration { return v.cfg.MaxAge }

// Header is the part of a JWS header the verifier reads.
type Header struct {
	Alg  string `json:"alg"`
	Kid  string `json:"kid,omitempty"`
	Typ  string `json:"typ,omitempty"`
	Crit any    `json:"crit,omitempty"`
}

// ParseHeader decodes the protected header of a compact JWS without
// verifying anything. Errors wrap ErrMalformed.
func ParseHeader(token string) (Header, error) {
	parts := strings.Split(token, ".")
	if len(parts) == 5 {
		return Header{}, fmt.Errorf("%w: the token is an encrypted JWT (JWE); SETs must be signed compact JWS", ErrMalformed)
	}
	if len(parts) != 3 {
		return Header{}, fmt.Errorf("%w: the token is not a compact JWS (want 3 dot-separated parts, got %d)", ErrMalformed, len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return Header{}, fmt.Errorf("%w: the JWS header is not base64url", ErrMalformed)
	}
	var h Header
	if err := json.Unmarshal(raw, &h); err != nil {
		return Header{}, fmt.Errorf("%w: the JWS header is not a JSON object with string alg, kid and typ", ErrMalformed)
	}
	return h, nil
}

// Verify checks token and returns its claims. Errors are *Error values
// carrying the code to answer (see the package documentation for the
// table), except for a transient failure to obtain the keys, which wraps
// ErrUnavailable, and ctx.Err() when ctx ends. When the signature verified
// but the issuer, audience or iat is wrong, the claims are returned along
// with the error, for the audit trail.
func (v *Verifier) Verify(ctx context.Context, token []byte) (*SET, error) {
	if len(token) > v.cfg.MaxTokenBytes {
		return nil, errorf(CodeInvalidRequest, ErrTooLarge, "the SET is %d bytes, at most %d accepted", len(token), v.cfg.MaxTokenBytes)
	}
	tok := string(bytes.TrimSpace(token))
	h, err := ParseHeader(tok)
	if err != nil {
		return nil, errorf(CodeInvalidRequest, err, "%s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
	}
	if h.Alg == "" {
		return nil, errorf(CodeInvalidRequest, ErrAlgorithm, "the JWS header has no alg")
	}
	if !slices.Contains(v.cfg.Algorithms, h.Alg) {
		return nil, errorf(CodeInvalidRequest, ErrAlgorithm, "algorithm %.20q is not accepted (accepted: %s)", h.Alg, strings.Join(v.cfg.Algorithms, ", "))
	}
	if h.Typ != "" && !strings.EqualFold(h.Typ, "secevent+jwt") && !strings.EqualFold(h.Typ, "application/secevent+jwt") {
		return nil, errorf(CodeInvalidRequest, ErrMalformed, "typ %.40q is not secevent+jwt", h.Typ)
	}
	if h.Crit != nil {
		return nil, errorf(CodeInvalidRequest, ErrMalformed, "the JWS header lists critical extensions this receiver does not understand")
	}
	jws, err := jose.ParseSignedCompact(tok, v.algs)
	if err != nil {
		return nil, errorf(CodeInvalidRequest, ErrMalformed, "the token is not a well-formed compact JWS")
	}
	keys, err := v.cfg.Keys.Keys(ctx, h.Kid)
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case errors.Is(err, ErrUnknownKey):
		return nil, errorf(CodeInvalidKey, err, "key %.64q is not in the transmitter's key set", h.Kid)
	default:
		return nil, fmt.Errorf("ssf: obtaining the transmitter's keys: %w", errors.Join(ErrUnavailable, err))
	}
	var payload []byte
	usable := 0
	for _, key := range keys {
		if !keyFits(key, h.Alg) {
			continue
		}
		usable++
		if p, err := jws.Verify(key); err == nil {
			payload = p
			break
		}
	}
	if usable == 0 {
		return nil, errorf(CodeInvalidKey, ErrUnknownKey, "no key %.64q of the transmitter's key set can verify %s", h.Kid, h.Alg)
	}
	if payload == nil {
		return nil, errorf(CodeAuthenticationFailed, ErrBadSignature, "the SET's signature does not verify with the transmitter's key %.64q", h.Kid)
	}
	set, err := ParseClaims(payload)
	if err != nil {
		return nil, errorf(CodeInvalidRequest, err, "%s", strings.TrimPrefix(err.Error(), ErrMalformed.Error()+": "))
	}
	if set.Issuer != v.cfg.Issuer {
		return set, errorf(CodeInvalidIssuer, nil, "issuer %.200q is not the configured transmitter", set.Issuer)
	}
	if !slices.ContainsFunc(set.Audience, func(a string) bool { return slices.Contains(v.cfg.Audience, a) }) {
		if len(set.Audience) == 0 {
			return set, errorf(CodeInvalidAudience, nil, "the SET names no audience")
		}
		return set, errorf(CodeInvalidAudience, nil, "audience %.200q does not name this receiver", strings.Join(set.Audience, ","))
	}
	now := time.Now()
	if age := now.Sub(set.IssuedAt); age > v.cfg.MaxAge {
		return set, errorf(CodeInvalidRequest, ErrStale, "iat %s is older than the accepted %s", set.IssuedAt.Format(time.RFC3339), v.cfg.MaxAge)
	}
	if ahead := set.IssuedAt.Sub(now); ahead > v.cfg.MaxSkew {
		return set, errorf(CodeInvalidRequest, ErrStale, "iat %s is more than %s in the future", set.IssuedAt.Format(time.RFC3339), v.cfg.MaxSkew)
	}
	return set, nil
}

// keyFits reports whether key may verify alg: its declared alg, if any,
// must be alg, and its type must be RSA for RS and PS, and EC on the
// matching curve for ES.
func keyFits(key jose.JSONWebKey, alg string) bool {
	if key.Algorithm != "" && key.Algorithm != alg {
		return false
	}
	switch k := key.Key.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		want := map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
		return want != "" && k.Curve != nil && k.Curve.Params().Name == want
	}
	return false
}
