package okta

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// APIError is Okta's error body, as every Management API endpoint returns
// it.
type APIError struct {
	ErrorCode    string       `json:"errorCode"`
	ErrorSummary string       `json:"errorSummary"`
	ErrorLink    string       `json:"errorLink,omitempty"`
	ErrorID      string       `json:"errorId,omitempty"`
	ErrorCauses  []ErrorCause `json:"errorCauses,omitempty"`
}

// ErrorCause is one entry of APIError.ErrorCauses.
type ErrorCause struct {
	ErrorSummary string `json:"errorSummary"`
}

// oauthError is the OAuth 2.0 error body of the token endpoint.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

// Okta error codes the client gives a meaning to.
const (
	CodeAPIValidation   = "E0000001" // 400: validation failed, also a lifecycle precondition
	CodeNoPermission    = "E0000006" // 403
	CodeNotFound        = "E0000007" // 404
	CodeInvalidToken    = "E0000011" // 401
	CodeAlreadyActive   = "E0000016" // 403: activation of an active user
	CodeStatusForbids   = "E0000038" // 403: not allowed in the user's current status
	CodeRateLimited     = "E0000047" // 429
	CodeUserActivating  = "E0000112" // 409
	CodeMethodForbidden = "E0000022" // 405
)

// apiError translates a non-2xx reply into a *playbook.ProviderError
// wrapping the canonical error for its status and code. The message is the
// errorSummary and causes, with the errorId for support: never a
// credential.
func (c *Client) apiError(op string, status int, h http.Header, body []byte) error {
	pe := &playbook.ProviderError{Provider: c.name, Op: op, Status: status}
	var ae APIError
	var oe oauthError
	switch {
	case json.Unmarshal(body, &ae) == nil && ae.ErrorCode != "":
		pe.Code = ae.ErrorCode
		pe.Message = ae.message()
	case json.Unmarshal(body, &oe) == nil && oe.Error != "":
		pe.Code = oe.Error
		pe.Message = oe.Description
	default:
		pe.Message = strings.TrimSpace(string(truncate(body, 200)))
	}
	pe.Err = canonical(status, pe.Code)
	if status == http.StatusTooManyRequests {
		pe.RetryAfter = resetDelay(h, time.Now())
	}
	return pe
}

func (e APIError) message() string {
	var b strings.Builder
	b.WriteString(e.ErrorSummary)
	for _, c := range e.ErrorCauses {
		if c.ErrorSummary != "" && c.ErrorSummary != e.ErrorSummary {
			b.WriteString("; ")
			b.WriteString(c.ErrorSummary)
		}
	}
	if e.ErrorID != "" {
		b.WriteString(" [errorId ")
		b.WriteString(e.ErrorID)
		b.WriteString("]")
	}
	return b.String()
}

// canonical maps an HTTP status and Okta error code to a canonical error.
func canonical(status int, code string) error {
	switch code {
	case CodeRateLimited:
		return playbook.ErrThrottled
	case CodeAlreadyActive, CodeStatusForbids, CodeUserActivating:
		return playbook.ErrConflict
	case CodeNotFound:
		return playbook.ErrNotFound
	case CodeInvalidToken:
		return playbook.ErrUnauthenticated
	case "invalid_client", "invalid_grant", "unauthorized_client":
		return playbook.ErrUnauthenticated
	case "invalid_scope", "access_denied":
		return playbook.ErrPermissionDenied
	}
	switch {
	case status == http.StatusTooManyRequests:
		return playbook.ErrThrottled
	case status == http.StatusUnauthorized:
		return playbook.ErrUnauthenticated
	case status == http.StatusForbidden:
		return playbook.ErrPermissionDenied
	case status == http.StatusNotFound:
		return playbook.ErrNotFound
	case status == http.StatusConflict:
		return playbook.ErrConflict
	case status == http.StatusMethodNotAllowed, status == http.StatusNotImplemented:
		return playbook.ErrUnsupported
	case status >= 500, status == http.StatusRequestTimeout:
		return playbook.ErrUnavailable
	}
	return playbook.ErrInvalidRequest
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

func isNotFound(err error) bool { return errors.Is(err, playbook.ErrNotFound) }

// badReply is a 2xx reply whose body could not be used.
func (c *Client) badReply(op string, status int, err error) error {
	return &playbook.ProviderError{Provider: c.name, Op: op, Status: status, Message: err.Error(), Err: playbook.ErrUnavailable}
}
