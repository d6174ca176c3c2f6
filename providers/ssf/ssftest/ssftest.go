package ssftest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/iamplaybook/iamplaybook/providers/ssf"
)

// Options configure a Transmitter. The zero value works.
type Options struct {
	// Audience is the default aud of the SETs NewSET builds. Empty means
	// "https://receiver.example".
	Audience string
	// Algorithm of the first signing key: ES256 (default), ES384, ES512,
	// RS256, RS384, RS512, PS256, PS384 or PS512.
	Algorithm string
	// Token, when set, is the bearer token the stream management and poll
	// endpoints require ("Authorization: Bearer <Token>").
	Token string
	// LongPoll is how long a poll request without returnImmediately waits
	// for a SET when none is pending. Zero answers at once.
	LongPoll time.Duration
}

// Key is a signing key of the transmitter.
type Key struct {
	// ID is the key's kid.
	ID string
	// Algorithm is the JWS algorithm the key signs with.
	Algorithm string
	signer    crypto.Signer
}

// Public returns the key's public JWK.
func (k *Key) Public() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"}
}

// PushResult is a receiver's answer to a pushed SET.
type PushResult struct {
	// Status is the HTTP status (202 on acceptance).
	Status int
	// Err and Description are the RFC 8935 error body members, when the
	// receiver sent one.
	Err         string
	Description string
}

// PollCall records one poll request the transmitter received.
type PollCall struct {
	MaxEvents         *int
	ReturnImmediately bool
	Ack               []string
	SetErrs           map[string]PushResult
	Authorization     bool // an Authorization header was sent and matched
}

// Transmitter is an SSF transmitter for tests. It serves its configuration
// metadata at /.well-known/ssf-configuration, its JWKS at /jwks.json, RFC
// 8936 polling at /poll and stream management at /ssf/stream,
// /ssf/status and /ssf/verify; it signs SETs with rotating keys and pushes
// them (RFC 8935) to a receiver. It is safe for concurrent use.
type Transmitter struct {
	// Issuer is the transmitter's issuer.
	Issuer string
	// base is scheme://host: where the endpoints are served.
	base string

	opts   Options
	srv    *httptest.Server
	client *http.Client

	mu          sync.Mutex
	keys        []*Key // published, newest last
	current     *Key
	jwksFetches int
	jwksFail    int // answer the next n JWKS requests with 503
	queue       []queued
	acked       []string
	setErrs     map[string]PushResult
	polls       []PollCall
	stream      *ssf.StreamConfig
	status      string
	pushed      []PushResult
	notify      chan struct{}
}

type queued struct {
	jti, token string
}

// New starts a transmitter on a local httptest server; its Issuer is the
// server's URL. Close it when done.
func New(opts Options) (*Transmitter, error) {
	t, err := newTransmitter("", opts)
	if err != nil {
		return nil, err
	}
	t.srv = httptest.NewServer(t.Handler())
	t.Issuer, t.base = t.srv.URL, t.srv.URL
	t.client = t.srv.Client()
	return t, nil
}

// NewInProcess returns a transmitter without a network listener: its
// Client serves requests for issuer by calling the transmitter's handler
// in-process (and sends requests to other hosts to fallback, nil meaning
// none). This suits testing/synctest bubbles, where real sockets would
// keep the bubble from ever idling. issuer must be an absolute https URL.
func NewInProcess(issuer string, opts Options, fallback http.Handler) (*Transmitter, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("ssftest: issuer %q must be an absolute https URL", issuer)
	}
	t, err := newTransmitter(issuer, opts)
	if err != nil {
		return nil, err
	}
	t.base = "https://" + u.Host
	t.client = &http.Client{Transport: &inProcess{host: u.Host, h: t.Handler(), fallback: fallback}}
	return t, nil
}

func newTransmitter(issuer string, opts Options) (*Transmitter, error) {
	if opts.Audience == "" {
		opts.Audience = "https://receiver.example"
	}
	if opts.Algorithm == "" {
		opts.Algorithm = "ES256"
	}
	t := &Transmitter{Issuer: issuer, opts: opts, setErrs: map[string]PushResult{}, status: "enabled", notify: make(chan struct{}, 1)}
	k, err := t.NewKey(opts.Algorithm)
	if err != nil {
		return nil, err
	}
	t.Publish(k)
	t.current = k
	return t, nil
}

// Close stops the server (if any) and its connections.
func (t *Transmitter) Close() {
	if t.srv != nil {
		t.srv.Close()
	}
}

// Client returns an HTTP client that reaches the transmitter.
func (t *Transmitter) Client() *http.Client { return t.client }

// Audience returns the default audience of NewSET.
func (t *Transmitter) Audience() string { return t.opts.Audience }

// JWKSURI returns the URL of the JWKS.
func (t *Transmitter) JWKSURI() string { return t.base + "/jwks.json" }

// PollURL returns the URL of the poll endpoint.
func (t *Transmitter) PollURL() string { return t.base + "/poll" }

// NewKey generates a signing key for alg with a fresh kid. It is not
// published in the JWKS until Publish.
func (t *Transmitter) NewKey(alg string) (*Key, error) {
	var s crypto.Signer
	var err error
	switch alg {
	case "ES256":
		s, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ES384":
		s, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ES512":
		s, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		s, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("ssftest: unsupported algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return &Key{ID: "k-" + randHex(6), Algorithm: alg, signer: s}, nil
}

// Publish adds k to the JWKS.
func (t *Transmitter) Publish(k *Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = append(t.keys, k)
}

// Retire removes the key kid from the JWKS.
func (t *Transmitter) Retire(kid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.keys = slices.DeleteFunc(t.keys, func(k *Key) bool { return k.ID == kid })
}

// Rotate generates a key with the current algorithm, publishes it and signs
// with it from now on. The old key stays published until Retire.
func (t *Transmitter) Rotate() (*Key, error) {
	t.mu.Lock()
	alg := t.current.Algorithm
	t.mu.Unlock()
	k, err := t.NewKey(alg)
	if err != nil {
		return nil, err
	}
	t.Publish(k)
	t.mu.Lock()
	t.current = k
	t.mu.Unlock()
	return k, nil
}

// CurrentKey returns the key SETs are signed with.
func (t *Transmitter) CurrentKey() *Key {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.current
}

// FailJWKS makes the next n JWKS requests answer 503.
func (t *Transmitter) FailJWKS(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.jwksFail = n
}

// JWKSFetches counts JWKS requests.
func (t *Transmitter) JWKSFetches() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.jwksFetches
}

// NewSET returns the claims of a SET from this transmitter: iss, aud, a
// fresh jti, iat now, sub_id (when subject is not nil) and one event.
func (t *Transmitter) NewSET(eventType string, event map[string]any, subject map[string]any) map[string]any {
	if event == nil {
		event = map[string]any{}
	}
	c := map[string]any{
		"iss":    t.Issuer,
		"aud":    t.opts.Audience,
		"jti":    randHex(16),
		"iat":    time.Now().Unix(),
		"events": map[string]any{eventType: event},
	}
	if subject != nil {
		c["sub_id"] = subject
	}
	return c
}

// SignOptions change how Sign builds a token.
type SignOptions struct {
	// Key signs instead of the current key.
	Key *Key
	// Kid overrides the kid header; "-" omits it.
	Kid string
	// Typ overrides the typ header ("secevent+jwt" by default); "-"
	// omits it.
	Typ string
}

// Sign signs claims (a map or a struct, or raw JSON bytes) as a compact SET.
func (t *Transmitter) Sign(claims any, o SignOptions) (string, error) {
	payload, err := payloadOf(claims)
	if err != nil {
		return "", err
	}
	k := o.Key
	if k == nil {
		k = t.CurrentKey()
	}
	so := &jose.SignerOptions{}
	switch o.Typ {
	case "":
		so.WithType("secevent+jwt")
	case "-":
	default:
		so.WithType(jose.ContentType(o.Typ))
	}
	jwk := jose.JSONWebKey{Key: k.signer, KeyID: k.ID, Algorithm: k.Algorithm}
	switch o.Kid {
	case "":
	case "-":
		jwk.KeyID = ""
	default:
		jwk.KeyID = o.Kid
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: jwk}, so)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// MustSign is Sign with the default options; it panics on error (a test
// set-up mistake).
func (t *Transmitter) MustSign(claims any) string {
	s, err := t.Sign(claims, SignOptions{})
	if err != nil {
		panic(err)
	}
	return s
}

// Unsigned returns claims as an "alg": "none" token with the current kid.
func (t *Transmitter) Unsigned(claims any) (string, error) {
	payload, err := payloadOf(claims)
	if err != nil {
		return "", err
	}
	h, _ := json.Marshal(map[string]string{"alg": "none", "typ": "secevent+jwt", "kid": t.CurrentKey().ID})
	return b64(h) + "." + b64(payload) + ".", nil
}

// HMAC returns claims signed with HS256 using secret as the key, with the
// current kid: the attack where a verifier takes a public key for an HMAC
// secret.
func (t *Transmitter) HMAC(claims any, secret []byte) (string, error) {
	payload, err := payloadOf(claims)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: t.CurrentKey().ID}},
		(&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// Forge returns token with its payload replaced by claims and the original
// signature kept: a forged SET.
func Forge(token string, claims any) (string, error) {
	payload, err := payloadOf(claims)
	if err != nil {
		return "", err
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", errors.New("ssftest: not a compact JWS")
	}
	return parts[0] + "." + b64(payload) + "." + parts[2], nil
}

func payloadOf(claims any) ([]byte, error) {
	if b, ok := claims.([]byte); ok {
		return b, nil
	}
	return json.Marshal(claims)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Push delivers token to a receiver's endpoint as RFC 8935 describes:
// POST, Content-Type application/secevent+jwt, Accept application/json,
// and authorization as the Authorization header when not empty. client nil
// means the transmitter's Client.
func (t *Transmitter) Push(ctx context.Context, client *http.Client, endpoint, token, authorization string) (PushResult, error) {
	if client == nil {
		client = t.client
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(token))
	if err != nil {
		return PushResult{}, err
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return PushResult{}, err
	}
	defer resp.Body.Close()
	res := PushResult{Status: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusAccepted && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		var e struct {
			Err         string `json:"err"`
			Description string `json:"description"`
		}
		if err := json.Unmarshal(body, &e); err != nil {
			return res, fmt.Errorf("ssftest: the receiver's %d answer is not RFC 8935 JSON: %v", resp.StatusCode, err)
		}
		res.Err, res.Description = e.Err, e.Description
	}
	t.mu.Lock()
	t.pushed = append(t.pushed, res)
	t.mu.Unlock()
	return res, nil
}

// Enqueue offers token on the poll endpoint under jti until it is
// acknowledged.
func (t *Transmitter) Enqueue(jti, token string) {
	t.mu.Lock()
	t.queue = append(t.queue, queued{jti: jti, token: token})
	t.mu.Unlock()
	select {
	case t.notify <- struct{}{}:
	default:
	}
}

// Pending returns the jtis still offered on the poll endpoint.
func (t *Transmitter) Pending() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, q := range t.queue {
		out = append(out, q.jti)
	}
	return out
}

// Acked returns the jtis acknowledged by poll requests, in order.
func (t *Transmitter) Acked() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.acked)
}

// SetErrs returns the errors poll requests reported, by jti.
func (t *Transmitter) SetErrs() map[string]PushResult {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]PushResult, len(t.setErrs))
	for k, v := range t.setErrs {
		out[k] = v
	}
	return out
}

// PollCalls returns the poll requests received, in order.
func (t *Transmitter) PollCalls() []PollCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.polls)
}

// Stream returns the stream created through the management endpoint.
func (t *Transmitter) Stream() (ssf.StreamConfig, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stream == nil {
		return ssf.StreamConfig{}, false
	}
	return *t.stream, true
}

// SetStatus sets the stream status the status endpoint reports.
func (t *Transmitter) SetStatus(status string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = status
}

// inProcess is a RoundTripper that serves one host with a handler.
type inProcess struct {
	host     string
	h        http.Handler
	fallback http.Handler
}

func (p *inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	h := p.h
	if req.URL.Host != p.host {
		if p.fallback == nil {
			return nil, fmt.Errorf("ssftest: no in-process handler for host %q", req.URL.Host)
		}
		h = p.fallback
	}
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	in := req.Clone(req.Context())
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "192.0.2.1:443"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, in)
	resp := rec.Result()
	resp.Request = req
	return resp, nil
}
