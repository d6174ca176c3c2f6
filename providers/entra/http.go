package entra

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// maxBody bounds a Graph response body read into memory.
const maxBody = 16 << 20

// GraphError is the error body of Microsoft Graph:
// {"error":{"code","message","innerError":{...}}}. Each field holds the
// member named by its JSON tag.
type GraphError struct {
	Code       string           `json:"code"`
	Message    string           `json:"message"`
	InnerError *GraphInnerError `json:"innerError"`
}

// GraphInnerError is GraphError's innerError. Directory endpoints nest a
// more specific code here; throttling puts the status in Code. Each field
// holds the member named by its JSON tag.
type GraphInnerError struct {
	Code      string           `json:"code"`
	Message   string           `json:"message"`
	RequestID string           `json:"request-id"`
	Date      string           `json:"date"`
	Inner     *GraphInnerError `json:"innerError"`
}

// ParseGraphError decodes a Graph error body. It fails, saying why, on a
// body that is not JSON, has no "error" object, or whose error has no code.
func ParseGraphError(body []byte) (GraphError, error) {
	var env struct {
		Error *GraphError `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return GraphError{}, fmt.Errorf("entra: Graph error body: %w", err)
	}
	if env.Error == nil {
		return GraphError{}, errors.New(`entra: Graph error body has no "error" object`)
	}
	if env.Error.Code == "" {
		return GraphError{}, errors.New(`entra: Graph error body has no "error.code"`)
	}
	return *env.Error, nil
}

// ParseRetryAfter reads a Retry-After header: seconds, possibly fractional
// as Graph sends them ("2.128"), or an HTTP date (relative to now). It
// reports false for an empty, negative or unparsable value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > 24*3600 {
			return 0, false
		}
		return time.Duration(math.Ceil(f * float64(time.Second))), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// errorFor translates a Graph response with a non-2xx status into a
// ProviderError wrapping the canonical error.
func errorFor(op string, resp *http.Response, body []byte) *playbook.ProviderError {
	pe := &playbook.ProviderError{Provider: ProviderName, Op: op, Status: resp.StatusCode}
	if ge, err := ParseGraphError(body); err == nil {
		pe.Code, pe.Message = ge.Code, ge.Message
		if ge.InnerError != nil && ge.InnerError.Code != "" && pe.Code != "TooManyRequests" {
			pe.Code += "/" + ge.InnerError.Code
		}
	} else {
		pe.Message = http.StatusText(resp.StatusCode)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusTooManyRequests:
		pe.Err = playbook.ErrThrottled
	case s == http.StatusServiceUnavailable, s == http.StatusBadGateway, s == http.StatusGatewayTimeout, s == http.StatusInternalServerError, s == http.StatusRequestTimeout:
		pe.Err = playbook.ErrUnavailable
	case s == http.StatusNotImplemented:
		pe.Err = playbook.ErrUnsupported
	case s == http.StatusUnauthorized:
		pe.Err = playbook.ErrUnauthenticated
	case s == http.StatusForbidden:
		pe.Err = playbook.ErrPermissionDenied
	case s == http.StatusNotFound, s == http.StatusGone:
		pe.Err = playbook.ErrNotFound
	case s == http.StatusConflict, s == http.StatusPreconditionFailed:
		pe.Err = playbook.ErrConflict
	case s >= 500:
		pe.Err = playbook.ErrUnavailable
	default:
		pe.Err = playbook.ErrInvalidRequest
	}
	if pe.Err == playbook.ErrThrottled || pe.Err == playbook.ErrUnavailable {
		pe.RetryAfter, _ = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return pe
}

// request is one Graph call.
type request struct {
	op     string // operation name for errors
	method string
	path   string // relative to the Graph base, or an absolute nextLink
	query  url.Values
	body   any
	header http.Header
}

// isIdentityProtection reports whether path is paced by the per-tenant
// Identity Protection limit.
func isIdentityProtection(path string) bool {
	return strings.Contains(path, "/identityProtection/")
}

// do sends r and decodes a JSON answer into out (when out is not nil). A
// 401 from Graph makes it fetch a new token and try once more; any other
// failure is returned as a *playbook.ProviderError (or ctx.Err()).
func (c *Client) do(ctx context.Context, r request, out any) (int, error) {
	var payload []byte
	if r.body != nil {
		var err error
		if payload, err = json.Marshal(r.body); err != nil {
			return 0, fmt.Errorf("entra %s: encoding the request: %w", r.op, err)
		}
	}
	target, err := c.resolve(r.path, r.query)
	if err != nil {
		return 0, &playbook.ProviderError{Provider: ProviderName, Op: r.op, Err: playbook.ErrInvalidRequest, Message: err.Error()}
	}
	for attempt := 0; ; attempt++ {
		tok, gen, err := c.tokens.token(ctx)
		if err != nil {
			return 0, err
		}
		if isIdentityProtection(target.Path) {
			if err := c.limiter.Wait(ctx); err != nil {
				return 0, err
			}
		}
		status, body, hdr, err := c.send(ctx, r, target, tok, payload)
		if err != nil {
			return 0, err
		}
		if status == http.StatusUnauthorized && attempt == 0 {
			// The token expired or was revoked early: fetch a new one once.
			c.tokens.invalidate(gen)
			c.log.DebugContext(ctx, "entra: Graph refused the access token; fetching a new one", "op", r.op)
			continue
		}
		if status < 200 || status > 299 {
			return status, errorFor(r.op, &http.Response{StatusCode: status, Header: hdr}, body)
		}
		if out != nil && len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, out); err != nil {
				return status, &playbook.ProviderError{Provider: ProviderName, Op: r.op, Status: status, Err: playbook.ErrUnavailable,
					Message: "Graph answered with a body that is not the expected JSON: " + err.Error()}
			}
		}
		return status, nil
	}
}

func (c *Client) send(ctx context.Context, r request, target *url.URL, tok string, payload []byte) (int, []byte, http.Header, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target.String(), rd)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("entra %s: %w", r.op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, nil, &playbook.ProviderError{Provider: ProviderName, Op: r.op, Err: playbook.ErrUnavailable, Message: redactURLError(err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, nil, ctx.Err()
		}
		return 0, nil, nil, &playbook.ProviderError{Provider: ProviderName, Op: r.op, Status: resp.StatusCode, Err: playbook.ErrUnavailable, Message: "reading the response: " + err.Error()}
	}
	return resp.StatusCode, body, resp.Header, nil
}

// resolve builds the URL of path (relative to the Graph base) or of an
// absolute nextLink, which must point at the same Graph host.
func (c *Client) resolve(path string, q url.Values) (*url.URL, error) {
	if strings.HasPrefix(path, "http://") || strings.HasPrefix(path, "https://") {
		u, err := url.Parse(path)
		if err != nil {
			return nil, fmt.Errorf("bad @odata.nextLink: %w", err)
		}
		if u.Host != c.graph.Host || u.Scheme != c.graph.Scheme {
			return nil, fmt.Errorf("@odata.nextLink points at %s://%s, not the Graph host %s", u.Scheme, u.Host, c.graph.Host)
		}
		return u, nil
	}
	u, err := url.Parse(c.graphURL + path)
	if err != nil {
		return nil, err
	}
	if len(q) > 0 {
		u.RawQuery = encodeQuery(q)
	}
	return u, nil
}

// encodeQuery encodes OData query options with %20 for spaces, as Graph's
// documentation writes them, and keeps '$' literal.
func encodeQuery(q url.Values) string {
	s := q.Encode()
	s = strings.ReplaceAll(s, "+", "%20")
	return strings.ReplaceAll(s, "%24", "$")
}

// page is one page of a Graph collection.
type page struct {
	Value    []json.RawMessage `json:"value"`
	NextLink string            `json:"@odata.nextLink"`
}

// list fetches every page of a collection, following @odata.nextLink, and
// calls each for every item in order. It stops at the first error from
// Graph or from each.
func (c *Client) list(ctx context.Context, r request, each func(json.RawMessage) error) error {
	for {
		var p page
		if _, err := c.do(ctx, r, &p); err != nil {
			return err
		}
		for _, item := range p.Value {
			if err := each(item); err != nil {
				return err
			}
		}
		if p.NextLink == "" {
			return nil
		}
		r.path, r.query = p.NextLink, nil
	}
}

// quote returns s as an OData string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// odataTime formats t as an OData DateTimeOffset literal.
func odataTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }
