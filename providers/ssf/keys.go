package ssf

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// Metadata is the transmitter configuration metadata served at
// /.well-known/ssf-configuration (SSF 1.0 section 7). Unknown members are
// ignored.
type Metadata struct {
	SpecVersion              string   `json:"spec_version,omitempty"`
	Issuer                   string   `json:"issuer"`
	JWKSURI                  string   `json:"jwks_uri"`
	DeliveryMethodsSupported []string `json:"delivery_methods_supported,omitempty"`
	ConfigurationEndpoint    string   `json:"configuration_endpoint,omitempty"`
	StatusEndpoint           string   `json:"status_endpoint,omitempty"`
	AddSubjectEndpoint       string   `json:"add_subject_endpoint,omitempty"`
	RemoveSubjectEndpoint    string   `json:"remove_subject_endpoint,omitempty"`
	VerificationEndpoint     string   `json:"verification_endpoint,omitempty"`
	CriticalSubjectMembers   []string `json:"critical_subject_members,omitempty"`
	DefaultSubjects          string   `json:"default_subjects,omitempty"`
	AuthorizationSchemes     []struct {
		SpecURN string `json:"spec_urn"`
	} `json:"authorization_schemes,omitempty"`
}

// Delivery method URNs.
const (
	DeliveryPush = "urn:ietf:rfc:8935"
	DeliveryPoll = "urn:ietf:rfc:8936"
	// DeliveryLegacyPush is the RISC draft push URI some transmitters
	// (Okta) still list.
	DeliveryLegacyPush = "https://schemas.openid.net/secevent/risc/delivery-method/push"
)

const maxMetadataBytes = 64 << 10
const maxJWKSBytes = 256 << 10
const maxKeys = 64

// WellKnownURL returns the configuration URL of issuer: the well-known
// path inserted between host and the issuer's path
// (https://idp.example/t1 → https://idp.example/.well-known/ssf-configuration/t1).
func WellKnownURL(issuer string) (string, error) {
	u, err := checkURL("issuer", issuer)
	if err != nil {
		return "", err
	}
	path := strings.TrimSuffix(u.Path, "/")
	u.Path = "/.well-known/ssf-configuration" + path
	u.RawPath = ""
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// checkURL requires an absolute https URL, or http to a loopback host
// (tests and local development).
func checkURL(field, raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("ssf: %s %q is not an absolute URL", field, raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("ssf: %s %q must use https (plain http is allowed only to a loopback address)", field, raw)
		}
	default:
		return nil, fmt.Errorf("ssf: %s %q must use https", field, raw)
	}
	return u, nil
}

// Discover fetches the transmitter configuration metadata of issuer with
// client (nil means http.DefaultClient) and checks it: the metadata's
// issuer must equal issuer exactly (SSF requires it, so that a
// configuration cannot speak for another transmitter), and jwks_uri must
// be an https URL. ctx bounds the request.
func Discover(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	wk, err := WellKnownURL(issuer)
	if err != nil {
		return nil, err
	}
	body, err := get(ctx, client, wk, maxMetadataBytes)
	if err != nil {
		return nil, fmt.Errorf("ssf: fetching transmitter configuration: %w", err)
	}
	var md Metadata
	if err := json.Unmarshal(body, &md); err != nil {
		return nil, fmt.Errorf("ssf: transmitter configuration at %s is not valid JSON: %v", wk, err)
	}
	if md.Issuer != issuer {
		return nil, fmt.Errorf("ssf: transmitter configuration at %s names issuer %q, want %q", wk, md.Issuer, issuer)
	}
	if _, err := checkURL("jwks_uri", md.JWKSURI); err != nil {
		return nil, err
	}
	return &md, nil
}

// httpStatusError is a non-2xx answer.
type httpStatusError struct {
	URL    string
	Status int
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("GET %s: status %d", e.URL, e.Status) }

func get(ctx context.Context, client *http.Client, u string, limit int64) ([]byte, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, &httpStatusError{URL: u, Status: resp.StatusCode}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: response larger than %d bytes", u, limit)
	}
	return body, nil
}

// KeySetOptions configure a KeySet. The zero value works.
type KeySetOptions struct {
	// Client fetches the JWKS. Nil means http.DefaultClient.
	Client *http.Client
	// MinRefreshInterval is the least time between two fetches caused by
	// an unknown kid, so that a flood of SETs with made-up kids cannot
	// hammer the transmitter. Zero means DefaultMinRefreshInterval.
	MinRefreshInterval time.Duration
	// MaxAge is how long fetched keys are used before they are fetched
	// again on the next lookup (a failed refetch keeps the old keys).
	// Zero means DefaultKeyMaxAge.
	MaxAge time.Duration
}

// KeySet defaults.
const (
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultKeyMaxAge          = time.Hour
)

// KeySet is a transmitter's JSON Web Key Set, fetched from its jwks_uri,
// cached, and refetched when a SET names a kid it does not hold (at most
// once per MinRefreshInterval) or when the cache is older than MaxAge.
// The first fetch and refetches of a stale cache do not count against the
// unknown-kid rate limit, so that a rotation right after start-up is still
// picked up. Only public signature keys (RSA and EC) are kept: symmetric keys, private
// keys and keys whose "use" is not "sig" are dropped, so that a public key
// can never serve as an HMAC secret.
//
// A KeySet is safe for concurrent use; concurrent refreshes are merged.
type KeySet struct {
	uri  string
	opts KeySetOptions

	sf singleflight.Group

	mu          sync.Mutex
	keys        []jose.JSONWebKey
	fetchedAt   time.Time // zero until the first successful fetch
	lastAttempt time.Time // zero until the first attempt
	lastMiss    time.Time // last refetch caused by an unknown kid
	fetches     int
}

// NewKeySet returns a key set for jwksURI (https, or http to a loopback
// host). It fetches nothing until the first lookup.
func NewKeySet(jwksURI string, opts KeySetOptions) (*KeySet, error) {
	if _, err := checkURL("jwks_uri", jwksURI); err != nil {
		return nil, err
	}
	if opts.MinRefreshInterval < 0 || opts.MaxAge < 0 {
		return nil, errors.New("ssf: KeySetOptions.MinRefreshInterval and MaxAge must not be negative")
	}
	if opts.MinRefreshInterval == 0 {
		opts.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if opts.MaxAge == 0 {
		opts.MaxAge = DefaultKeyMaxAge
	}
	return &KeySet{uri: jwksURI, opts: opts}, nil
}

// Fetches returns how many times the JWKS was requested.
func (k *KeySet) Fetches() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.fetches
}

// Keys returns the keys whose kid is kid (all keys when kid is empty),
// fetching or refetching the JWKS when needed. It returns an error
// wrapping ErrUnknownKey when no key matches after the allowed refresh,
// and one wrapping ErrUnavailable when the JWKS could not be fetched and no
// cached key matches. When ctx ends, it returns ctx.Err().
func (k *KeySet) Keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	now := time.Now()
	k.mu.Lock()
	keys, fetched, last, lastMiss := k.keys, k.fetchedAt, k.lastAttempt, k.lastMiss
	k.mu.Unlock()

	found := match(keys, kid)
	stale := fetched.IsZero() || now.Sub(fetched) >= k.opts.MaxAge
	allowed := func(t time.Time) bool { return t.IsZero() || now.Sub(t) >= k.opts.MinRefreshInterval }
	miss := false
	switch {
	case len(found) > 0 && !stale:
		return found, nil
	case len(found) > 0: // stale: refetch, but keep using the keys meanwhile
		if !allowed(last) {
			return found, nil
		}
	case fetched.IsZero(): // never fetched successfully
		if !allowed(last) {
			return nil, fmt.Errorf("%w: the transmitter's key set could not be fetched; next attempt allowed after %s", ErrUnavailable, k.opts.MinRefreshInterval)
		}
	case stale: // an unknown kid in a stale cache: refetch as for staleness
		if !allowed(last) {
			return nil, fmt.Errorf("%w: kid %.64q is not in the transmitter's key set (refresh rate-limited)", ErrUnknownKey, kid)
		}
	default: // an unknown kid: at most one refetch per interval
		if !allowed(lastMiss) {
			return nil, fmt.Errorf("%w: kid %.64q is not in the transmitter's key set (refresh rate-limited)", ErrUnknownKey, kid)
		}
		miss = true
	}
	if miss {
		k.mu.Lock()
		if !allowed(k.lastMiss) {
			k.mu.Unlock()
			return nil, fmt.Errorf("%w: kid %.64q is not in the transmitter's key set (refresh rate-limited)", ErrUnknownKey, kid)
		}
		k.lastMiss = now
		k.mu.Unlock()
	}
	ch := k.sf.DoChan("jwks", func() (any, error) { return nil, k.refresh(context.WithoutCancel(ctx)) })
	var err error
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case res := <-ch:
		err = res.Err
	}
	k.mu.Lock()
	keys = k.keys
	k.mu.Unlock()
	found = match(keys, kid)
	if len(found) > 0 {
		return found, nil // a failed refetch of a stale cache keeps the old keys
	}
	if err != nil {
		return nil, fmt.Errorf("%w: fetching the transmitter's key set: %v", ErrUnavailable, err)
	}
	return nil, fmt.Errorf("%w: kid %.64q is not in the transmitter's key set", ErrUnknownKey, kid)
}

func match(keys []jose.JSONWebKey, kid string) []jose.JSONWebKey {
	if kid == "" {
		return keys
	}
	var out []jose.JSONWebKey
	for _, key := range keys {
		if key.KeyID == kid {
			out = append(out, key)
		}
	}
	return out
}

// refresh fetches the JWKS; on success it replaces the cached keys.
func (k *KeySet) refresh(ctx context.Context) error {
	k.mu.Lock()
	k.lastAttempt = time.Now()
	k.fetches++
	k.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := get(ctx, k.opts.Client, k.uri, maxJWKSBytes)
	if err != nil {
		return err
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return err
	}
	k.mu.Lock()
	k.keys, k.fetchedAt = keys, time.Now()
	k.mu.Unlock()
	return nil
}

// ParseJWKS decodes a JSON Web Key Set and keeps its public RSA and EC
// signature keys. Keys that fail to decode, symmetric ("oct") keys, private
// keys and keys with a "use" other than "sig" are skipped; an error is
// returned only when the document is not a key set at all.
func ParseJWKS(data []byte) ([]jose.JSONWebKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.Keys == nil {
		return nil, fmt.Errorf("ssf: JWKS is not a JSON object with a \"keys\" array")
	}
	var keys []jose.JSONWebKey
	for _, raw := range doc.Keys {
		if len(keys) == maxKeys {
			break
		}
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(raw); err != nil {
			continue
		}
		if key.Use != "" && key.Use != "sig" {
			continue
		}
		switch key.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
			keys = append(keys, key)
		}
	}
	return keys, nil
}
