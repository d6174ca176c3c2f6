package ssf

import (
	"errors"
	"fmt"
	"net/http"
)

// ErrorCode is a registered Security Event Token error code (RFC 8935
// section 2.4, IANA "Security Event Token Error Codes"). It is what a push
// receiver answers in the "err" member of a 400 response and what a poll
// client reports back in "setErrs".
type ErrorCode string

// The registered error codes.
const (
	// CodeInvalidRequest: the request or the SET cannot be parsed, or does
	// not conform (malformed JWS, missing claims, algorithm not accepted,
	// stale iat, replayed jti, oversized body, wrong media type).
	CodeInvalidRequest ErrorCode = "invalid_request"
	// CodeInvalidKey: the key that signed the SET is unknown, revoked or
	// unsuitable for the algorithm.
	CodeInvalidKey ErrorCode = "invalid_key"
	// CodeInvalidIssuer: the SET's iss is not the configured transmitter.
	CodeInvalidIssuer ErrorCode = "invalid_issuer"
	// CodeInvalidAudience: the SET's aud does not name this receiver.
	CodeInvalidAudience ErrorCode = "invalid_audience"
	// CodeAuthenticationFailed: the transmitter or the SET could not be
	// authenticated (missing or wrong bearer token, bad signature).
	CodeAuthenticationFailed ErrorCode = "authentication_failed"
	// CodeAccessDenied: the transmitter is authenticated but not allowed.
	CodeAccessDenied ErrorCode = "access_denied"
)

// Error is a SET that was refused, with the registered code and a
// description safe to send back to the transmitter: it never contains the
// token, a key or a bearer secret. Err, when set, is the underlying cause
// (for errors.Is); it is not sent on the wire.
type Error struct {
	// Code is the registered error code.
	Code ErrorCode
	// Description says, for people, what was wrong.
	Description string
	// Err is the cause, if any.
	Err error
}

// Error returns "ssf: <code>: <description>".
func (e *Error) Error() string {
	return "ssf: " + string(e.Code) + ": " + e.Description
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, &ssf.Error{Code: ssf.CodeInvalidKey}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Description == ""
}

func errorf(code ErrorCode, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...), Err: cause}
}

// Sentinel causes wrapped by the *Error values this package returns.
var (
	// ErrMalformed: the token or claims are not a well-formed SET.
	ErrMalformed = errors.New("malformed security event token")
	// ErrReplay: a SET with the same issuer and jti was already received.
	ErrReplay = errors.New("security event token already received")
	// ErrStale: the SET's iat is outside the accepted window.
	ErrStale = errors.New("security event token outside the accepted iat window")
	// ErrUnknownKey: no key of the transmitter's JWKS matches the SET's kid,
	// even after a refresh (or a refresh was refused by the rate limit).
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrBadSignature: the signature does not verify.
	ErrBadSignature = errors.New("signature verification failed")
	// ErrAlgorithm: the JWS algorithm is not on the allow-list.
	ErrAlgorithm = errors.New("signature algorithm not accepted")
	// ErrTooLarge: the body or token exceeds the configured limit.
	ErrTooLarge = errors.New("security event token too large")
	// ErrUnavailable: a transient failure (JWKS unreachable, runner
	// refused the event for a reason other than its content). The SET
	// should be delivered again later.
	ErrUnavailable = errors.New("temporarily unavailable")
)

// pushError is the RFC 8935 error body.
type pushError struct {
	Err         ErrorCode `json:"err"`
	Description string    `json:"description"`
}

// StatusFor returns the HTTP status a push receiver answers for err: 413
// for an oversized body, 401 for a failed bearer check, 503 for a
// transient failure, 400 for every other refused SET.
func StatusFor(err error) int {
	switch {
	case err == nil:
		return http.StatusAccepted
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBearer):
		return http.StatusUnauthorized
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

var errBearer = errors.New("bearer authorization failed")
