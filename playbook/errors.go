package playbook

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Canonical provider errors. Providers translate their vendor's errors into
// these once, at the boundary (usually inside a *ProviderError), so that
// retry and escalation never depend on error strings.
var (
	// ErrNotFound: the user, role, group or assignment does not exist.
	// Permanent.
	ErrNotFound = errors.New("not found")
	// ErrPermissionDenied: the credentials lack the right to do this.
	// Permanent.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrUnauthenticated: the credentials were refused. Permanent (a token
	// refresh, if any, has already been tried by the provider).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalidRequest: the provider refused the request as malformed.
	// Permanent.
	ErrInvalidRequest = errors.New("invalid request")
	// ErrConflict: the object is in a state that forbids the change.
	// Permanent.
	ErrConflict = errors.New("conflict")
	// ErrUnsupported: the provider cannot perform the operation with the
	// configured credentials or API. Permanent.
	ErrUnsupported = errors.New("unsupported")
	// ErrThrottled: the provider asked us to slow down. Retry after the
	// delay RetryAfter reports.
	ErrThrottled = errors.New("throttled")
	// ErrUnavailable: a transient failure (5xx, connection reset, timeout).
	// Retry with backoff.
	ErrUnavailable = errors.New("unavailable")
)

// Class says what to do about an error.
type Class int

// Error classes.
const (
	// ClassTransient: retry with backoff.
	ClassTransient Class = iota
	// ClassThrottled: retry after the provider's delay.
	ClassThrottled
	// ClassPermanent: stop and escalate.
	ClassPermanent
)

// String returns "transient", "throttled" or "permanent".
func (c Class) String() string {
	switch c {
	case ClassTransient:
		return "transient"
	case ClassThrottled:
		return "throttled"
	case ClassPermanent:
		return "permanent"
	}
	return fmt.Sprintf("Class(%d)", int(c))
}

// ProviderError is an identity provider's failure, translated. Err is one of
// the canonical sentinels (errors.Is(err, ErrNotFound) works through it).
type ProviderError struct {
	// Provider names the provider ("entra", "okta", "fake").
	Provider string
	// Op names the operation ("disable-user", "GET /users/{id}").
	Op string
	// Status is the HTTP status, when there was one.
	Status int
	// Code is the vendor's error code ("Request_ResourceNotFound",
	// "E0000007").
	Code string
	// Message is the vendor's message, free of secrets.
	Message string
	// RetryAfter is the delay the provider asked for, when it asked.
	RetryAfter time.Duration
	// Err is the canonical error.
	Err error
}

// Error describes the failure with the provider, operation, status and code.
func (e *ProviderError) Error() string {
	s := e.Provider + " " + e.Op + ": " + e.Err.Error()
	if e.Status != 0 {
		s += fmt.Sprintf(" (status %d", e.Status)
		if e.Code != "" {
			s += " " + e.Code
		}
		s += ")"
	} else if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	return s
}

// Unwrap returns the canonical error.
func (e *ProviderError) Unwrap() error { return e.Err }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying whatever it wraps. Permanent(nil)
// is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// Classify says whether err should be retried. Errors marked with Permanent,
// wrapping a permanent canonical error, or context.Canceled are permanent;
// ErrThrottled is throttled; ErrUnavailable, context.DeadlineExceeded (an
// attempt's own timeout), network errors and errors we know nothing about are
// transient, so that retries stay bounded by the retry policy, not by luck.
func Classify(err error) Class {
	var pe *permanentError
	switch {
	case err == nil:
		return ClassPermanent
	case errors.As(err, &pe):
		return ClassPermanent
	case errors.Is(err, ErrThrottled):
		return ClassThrottled
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return ClassTransient
	case errors.Is(err, context.Canceled),
		errors.Is(err, ErrNotFound), errors.Is(err, ErrPermissionDenied),
		errors.Is(err, ErrUnauthenticated), errors.Is(err, ErrInvalidRequest),
		errors.Is(err, ErrConflict), errors.Is(err, ErrUnsupported):
		return ClassPermanent
	}
	return ClassTransient
}

// RetryAfter returns the delay a throttled provider asked for, if err
// carries one.
func RetryAfter(err error) (time.Duration, bool) {
	var pe *ProviderError
	if errors.As(err, &pe) && pe.RetryAfter > 0 {
		return pe.RetryAfter, true
	}
	return 0, false
}

// PanicError is what a panicking enricher, policy or action becomes: the
// run is escalated with it instead of crashing the process.
type PanicError struct {
	// Stage names where the panic happened ("enrich", "decide", "action disable-user").
	Stage string
	// Value is the value passed to panic.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error reports the stage and the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("panic in %s: %v", e.Stage, e.Value)
}

// Unwrap returns the panic value when it is an error, so that errors.Is
// sees through the panic.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}
