package slackapprove

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Errors of the interactivity handler. Each is wrapped with the detail; the
// person who pressed the button is told the reason, Slack gets an HTTP
// status.
var (
	// ErrBadSignature: the request does not carry a valid v0 signature
	// made with the app's signing secret (missing, malformed or wrong).
	ErrBadSignature = errors.New("slack request signature is invalid")
	// ErrStaleRequest: the signed timestamp is outside SignatureWindow of
	// now, so the request may be a replay.
	ErrStaleRequest = errors.New("slack request timestamp is outside the allowed window")
	// ErrBadPayload: the body is not an interaction payload this channel
	// understands.
	ErrBadPayload = errors.New("slack interaction payload is malformed")
	// ErrUnknownUser: the Slack user who pressed the button cannot be
	// mapped to an identity (no such user, no e-mail address, a bot, a
	// deactivated account, a guest, or a member of another workspace).
	ErrUnknownUser = errors.New("slack user cannot be identified")
)

// slackCodes maps Slack's "error" codes to the canonical errors; a code
// that is not here is an invalid request.
var slackCodes = map[string]error{
	"not_authed": playbook.ErrUnauthenticated, "invalid_auth": playbook.ErrUnauthenticated,
	"account_inactive": playbook.ErrUnauthenticated, "token_revoked": playbook.ErrUnauthenticated,
	"token_expired": playbook.ErrUnauthenticated, "no_permission": playbook.ErrPermissionDenied,
	"missing_scope": playbook.ErrPermissionDenied, "not_allowed_token_type": playbook.ErrPermissionDenied,
	"ekm_access_denied": playbook.ErrPermissionDenied, "not_in_channel": playbook.ErrPermissionDenied,
	"is_archived": playbook.ErrConflict, "cant_update_message": playbook.ErrPermissionDenied,
	"edit_window_closed": playbook.ErrConflict, "channel_not_found": playbook.ErrNotFound,
	"user_not_found": playbook.ErrNotFound, "users_not_found": playbook.ErrNotFound,
	"message_not_found": playbook.ErrNotFound, "user_not_visible": playbook.ErrNotFound,
	"user_disabled": playbook.ErrNotFound, "ratelimited": playbook.ErrThrottled,
	"internal_error": playbook.ErrUnavailable, "fatal_error": playbook.ErrUnavailable,
	"service_unavailable": playbook.ErrUnavailable, "request_timeout": playbook.ErrUnavailable,
}

// translate turns a slack-go error into a *playbook.ProviderError naming
// the Web API method, once, at the boundary. Context errors pass through.
func translate(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	pe := &playbook.ProviderError{Provider: "slack", Op: op}
	var (
		rl *slack.RateLimitedError
		se slack.SlackErrorResponse
		sc slack.StatusCodeError
	)
	switch {
	case errors.As(err, &rl):
		pe.Status, pe.Code, pe.RetryAfter, pe.Err = http.StatusTooManyRequests, "ratelimited", rl.RetryAfter, playbook.ErrThrottled
	case errors.As(err, &se):
		pe.Status, pe.Code = http.StatusOK, se.Err
		pe.Err = slackCodes[se.Err]
		if pe.Err == nil {
			pe.Err = playbook.ErrInvalidRequest
		}
	case errors.As(err, &sc):
		pe.Status = sc.Code
		switch {
		case sc.Code == http.StatusTooManyRequests:
			pe.Err = playbook.ErrThrottled
		case sc.Code >= 500:
			pe.Err = playbook.ErrUnavailable
		case sc.Code == http.StatusUnauthorized:
			pe.Err = playbook.ErrUnauthenticated
		case sc.Code == http.StatusForbidden:
			pe.Err = playbook.ErrPermissionDenied
		case sc.Code == http.StatusNotFound, sc.Code == http.StatusGone:
			pe.Err = playbook.ErrNotFound
		default:
			pe.Err = playbook.ErrInvalidRequest
		}
	default:
		// Transport failures (connection refused, reset, TLS): transient.
		pe.Err, pe.Message = playbook.ErrUnavailable, err.Error()
	}
	return pe
}

// call runs fn, translating its error, and retries: after a rate limit
// (waiting the Retry-After Slack asked for, when it is at most
// maxRetryWait), and, when idempotent, after a transient failure (1s, 2s,
// 4s, ...), up to maxRetries more times. Waiting stops when ctx ends.
func (a *Approver) call(ctx context.Context, op string, idempotent bool, fn func(ctx context.Context) error) error {
	for attempt := 0; ; attempt++ {
		err := translate(op, fn(ctx))
		if err == nil {
			return nil
		}
		if attempt >= a.maxRetries || ctx.Err() != nil {
			return err
		}
		var wait time.Duration
		switch playbook.Classify(err) {
		case playbook.ClassThrottled:
			ra, _ := playbook.RetryAfter(err)
			wait = max(ra, time.Second)
			if wait > a.maxRetryWait {
				return fmt.Errorf("%w (not waiting longer than %s)", err, a.maxRetryWait)
			}
		case playbook.ClassTransient:
			if !idempotent {
				return err
			}
			wait = time.Second << attempt
		default:
			return err
		}
		a.log.Debug("slack call will be retried", "op", op, "attempt", attempt+1, "wait", wait, "err", err)
		t := a.clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up waiting to retry: %w)", err, ctx.Err())
		case <-t.C():
		}
	}
}
