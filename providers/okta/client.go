package okta

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// ProviderName is the default provider name carried by subjects and errors.
const ProviderName = "okta"

// OAuth 2.0 scopes the client asks for, per operation.
const (
	ScopeUsersRead     = "okta.users.read"
	ScopeUsersManage   = "okta.users.manage"
	ScopeRolesRead     = "okta.roles.read"
	ScopeRolesManage   = "okta.roles.manage"
	ScopeGroupsRead    = "okta.groups.read"
	ScopeGroupsManage  = "okta.groups.manage"
	ScopeLogsRead      = "okta.logs.read"
	ScopeUserRiskRead  = "okta.userRisk.read"
	ScopeUserRiskWrite = "okta.userRisk.manage"
)

// maxResponseBytes bounds every response body the client reads.
const maxResponseBytes = 16 << 20

// OAuthConfig configures an OAuth 2.0 service app that authenticates with
// private_key_jwt, the only client authentication Okta accepts for
// Okta-scoped tokens.
type OAuthConfig struct {
	// ClientID is the service app's client id. Required.
	ClientID string
	// Key signs the client assertions: an *rsa.PrivateKey (RS256) or an
	// *ecdsa.PrivateKey (ES256/384/512 by curve). Required. The key is
	// never logged or written anywhere.
	Key crypto.Signer
	// KeyID is the "kid" of the public JWK registered for the app.
	// Optional when the app has a single key.
	KeyID string
	// TokenURL overrides the token endpoint. Default: OrgURL +
	// "/oauth2/v1/token" (the org authorization server).
	TokenURL string
}

// Config configures a Client. OrgURL and one credential (APIToken or
// OAuth) are required; every other field has a working zero value.
type Config struct {
	// OrgURL is the Okta org, "https://example.okta.com". Plain http is
	// accepted only for loopback hosts (emulators).
	OrgURL string
	// APIToken authenticates with "Authorization: SSWS <token>". It is
	// never logged or put in errors.
	APIToken string
	// OAuth authenticates as a service app instead of an API token.
	OAuth *OAuthConfig
	// HTTPClient sends requests. Nil means a client with a 30s timeout.
	// Its redirect policy is replaced so that credentials never follow a
	// redirect to another host.
	HTTPClient *http.Client
	// Name is the provider name subjects and errors carry. Default
	// ProviderName.
	Name string
	// PaceBelow is the fraction of X-Rate-Limit-Limit under which the
	// client starts spreading requests evenly until X-Rate-Limit-Reset.
	// Zero means 0.5; it must be in [0, 1].
	PaceBelow float64
	// ReadRetries is how many times a throttled or unavailable GET is
	// retried by the client itself (after waiting for the bucket's reset
	// or a short backoff). Writes are never retried here; wrap actions in
	// contain.Retry. Zero means 2; negative means none.
	ReadRetries int
}

// Client talks to one Okta org's Management API. It is safe for concurrent
// use; it holds the credential, the OAuth token cache and the rate-limit
// state per endpoint bucket.
type Client struct {
	base     *url.URL
	name     string
	hc       *http.Client
	token    string
	oauth    *tokenSource
	limits   *limiter
	retries  int
	maxBytes int64
}

// New validates cfg and returns a client. The error names the bad field.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.OrgURL) == "" {
		return nil, errors.New("okta: Config.OrgURL is required")
	}
	u, err := url.Parse(strings.TrimRight(cfg.OrgURL, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("okta: Config.OrgURL %q is not an absolute URL", cfg.OrgURL)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, fmt.Errorf("okta: Config.OrgURL %q must use https (http is allowed only for loopback emulators)", cfg.OrgURL)
		}
	default:
		return nil, fmt.Errorf("okta: Config.OrgURL %q must use https", cfg.OrgURL)
	}
	if u.Path != "" || u.RawQuery != "" {
		return nil, fmt.Errorf("okta: Config.OrgURL %q must be the org's origin, without a path or query", cfg.OrgURL)
	}
	switch {
	case cfg.APIToken == "" && cfg.OAuth == nil:
		return nil, errors.New("okta: Config.APIToken or Config.OAuth is required")
	case cfg.APIToken != "" && cfg.OAuth != nil:
		return nil, errors.New("okta: set only one of Config.APIToken and Config.OAuth")
	}
	if cfg.PaceBelow < 0 || cfg.PaceBelow > 1 {
		return nil, fmt.Errorf("okta: Config.PaceBelow %v is outside [0, 1]", cfg.PaceBelow)
	}
	c := &Client{base: u, name: cfg.Name, token: cfg.APIToken, retries: cfg.ReadRetries, maxBytes: maxResponseBytes}
	if c.name == "" {
		c.name = ProviderName
	}
	if c.retries == 0 {
		c.retries = 2
	} else if c.retries < 0 {
		c.retries = 0
	}
	pace := cfg.PaceBelow
	if pace == 0 {
		pace = 0.5
	}
	c.limits = newLimiter(pace)
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	cp := *hc
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.hc = &cp
	if cfg.OAuth != nil {
		ts, err := newTokenSource(c, *cfg.OAuth)
		if err != nil {
			return nil, err
		}
		c.oauth = ts
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Name returns the provider name the client's subjects and errors carry.
func (c *Client) Name() string { return c.name }

// OrgURL returns the org's origin, without a trailing slash.
func (c *Client) OrgURL() string { return c.base.String() }

// Subject returns the subject for an Okta user id.
func (c *Client) Subject(userID string) playbook.Subject {
	return playbook.Subject{Provider: c.name, ID: userID}
}

// call describes one API request.
type call struct {
	op     string // "GET /api/v1/users/{id}": error Op and rate-limit bucket
	method string
	path   string // escaped path, or an absolute next link on the org
	query  url.Values
	body   any
	scope  string
}

// response is a successful reply.
type response struct {
	status int
	header http.Header
	body   []byte
}

// next returns the Link rel="next" URL of the response, if any.
func (r *response) next() string { return nextLink(r.header) }

// do sends c, waiting for the rate-limit bucket first, and translates
// errors. GETs are retried on throttling and transient failures up to
// ReadRetries times. ctx cancellation returns ctx.Err().
func (c *Client) do(ctx context.Context, k call) (*response, error) {
	attempts := 1
	if k.method == http.MethodGet {
		attempts += c.retries
	}
	var last error
	for i := range attempts {
		if i > 0 && playbook.Classify(last) == playbook.ClassPermanent {
			break
		}
		if i > 0 && playbook.Classify(last) == playbook.ClassTransient {
			if err := sleepCtx(ctx, time.Duration(i)*500*time.Millisecond); err != nil {
				return nil, err
			}
		}
		resp, err := c.once(ctx, k)
		if err == nil {
			return resp, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		last = err
	}
	return nil, last
}

func (c *Client) once(ctx context.Context, k call) (*response, error) {
	if err := c.limits.wait(ctx, k.op); err != nil {
		return nil, err
	}
	target, err := c.resolve(k)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	var raw []byte
	if k.body != nil {
		raw, err = json.Marshal(k.body)
		if err != nil {
			return nil, fmt.Errorf("okta %s: encoding the request body: %w", k.op, err)
		}
	}
	for try := 0; ; try++ {
		if raw != nil {
			body = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctx, k.method, target, body)
		if err != nil {
			return nil, fmt.Errorf("okta %s: %w", k.op, err)
		}
		req.Header.Set("Accept", "application/json")
		if raw != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if err := c.authorize(ctx, req, k.scope); err != nil {
			return nil, err
		}
		resp, err := c.hc.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &playbook.ProviderError{Provider: c.name, Op: k.op, Message: redactURLError(err), Err: playbook.ErrUnavailable}
		}
		data, rerr := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
		resp.Body.Close()
		c.limits.observe(k.op, resp.StatusCode, resp.Header)
		if rerr != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &playbook.ProviderError{Provider: c.name, Op: k.op, Status: resp.StatusCode, Message: "reading the response: " + rerr.Error(), Err: playbook.ErrUnavailable}
		}
		if int64(len(data)) > c.maxBytes {
			return nil, &playbook.ProviderError{Provider: c.name, Op: k.op, Status: resp.StatusCode, Message: fmt.Sprintf("response larger than %d bytes", c.maxBytes), Err: playbook.ErrUnavailable}
		}
		if resp.StatusCode == http.StatusUnauthorized && c.oauth != nil && try == 0 {
			// The cached access token may have been revoked: fetch a new
			// one once before giving up.
			c.oauth.invalidate(k.scope)
			continue
		}
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return &response{status: resp.StatusCode, header: resp.Header, body: data}, nil
		}
		return nil, c.apiError(k.op, resp.StatusCode, resp.Header, data)
	}
}

// resolve builds the absolute URL of k. A next link must point at the org
// itself: credentials are never sent to another origin.
func (c *Client) resolve(k call) (string, error) {
	if strings.HasPrefix(k.path, "http://") || strings.HasPrefix(k.path, "https://") {
		u, err := url.Parse(k.path)
		if err != nil || u.Scheme != c.base.Scheme || u.Host != c.base.Host {
			return "", &playbook.ProviderError{Provider: c.name, Op: k.op, Message: "refusing to follow a link outside the org: " + k.path, Err: playbook.ErrInvalidRequest}
		}
		return u.String(), nil
	}
	u := *c.base
	u.RawPath = k.path
	p, err := url.PathUnescape(k.path)
	if err != nil {
		return "", fmt.Errorf("okta %s: bad path %q: %w", k.op, k.path, err)
	}
	u.Path = p
	if len(k.query) > 0 {
		u.RawQuery = k.query.Encode()
	}
	return u.String(), nil
}

func (c *Client) authorize(ctx context.Context, req *http.Request, scope string) error {
	if c.oauth == nil {
		req.Header.Set("Authorization", "SSWS "+c.token)
		return nil
	}
	tok, err := c.oauth.token(ctx, scope)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// redactURLError keeps a transport error's cause without the request URL's
// query, which may carry cursors but never credentials; the message is
// still trimmed to the cause for readability.
func redactURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// getJSON GETs path and decodes the JSON body into v.
func (c *Client) getJSON(ctx context.Context, op, path string, q url.Values, scope string, v any) (*response, error) {
	resp, err := c.do(ctx, call{op: op, method: http.MethodGet, path: path, query: q, scope: scope})
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(resp.body, v); err != nil {
		return nil, &playbook.ProviderError{Provider: c.name, Op: op, Status: resp.status, Message: "decoding the response: " + err.Error(), Err: playbook.ErrUnavailable}
	}
	return resp, nil
}

// getAll GETs path and follows Link rel="next" until the last page or
// maxItems items, appending each page's items to the result.
func getAll[T any](ctx context.Context, c *Client, op, path string, q url.Values, scope string, maxItems int) ([]T, error) {
	var out []T
	next := path
	for next != "" {
		var page []T
		resp, err := c.getJSON(ctx, op, next, q, scope, &page)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) == 0 || (maxItems > 0 && len(out) >= maxItems) {
			break
		}
		next, q = resp.next(), nil
	}
	if maxItems > 0 && len(out) > maxItems {
		out = out[:maxItems]
	}
	return out, nil
}

// nextLink finds the rel="next" target among the Link headers.
func nextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for part := range strings.SplitSeq(v, ",") {
			part = strings.TrimSpace(part)
			i := strings.Index(part, ">")
			if !strings.HasPrefix(part, "<") || i < 0 {
				continue
			}
			target := part[1:i]
			params := strings.Split(part[i+1:], ";")
			if slices.ContainsFunc(params, func(p string) bool {
				p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
				return p == `rel="next"` || p == "rel=next"
			}) {
				return target
			}
		}
	}
	return ""
}

// esc escapes one path segment.
func esc(s string) string { return url.PathEscape(s) }
