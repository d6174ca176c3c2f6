package contain

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// Defaults that a zero RetryPolicy field stands for.
const (
	// DefaultInitialInterval is the first backoff delay.
	DefaultInitialInterval = 500 * time.Millisecond
	// DefaultMultiplier is the factor by which each backoff delay grows.
	DefaultMultiplier = 2.0
	// DefaultMaxInterval caps a backoff delay (before jitter).
	DefaultMaxInterval = 30 * time.Second
	// DefaultMaxAttempts bounds the number of attempts, the first included.
	DefaultMaxAttempts = 5
	// DefaultMaxElapsed bounds the time from the first attempt to the start
	// of the last.
	DefaultMaxElapsed = 2 * time.Minute
	// Jitter is the randomization factor applied to backoff delays unless
	// RetryPolicy.NoJitter is set: a delay d becomes a uniformly random
	// delay in [d*(1-Jitter), d*(1+Jitter)].
	Jitter = 0.5
)

// RetryPolicy says how Retry retries. It is plain data: the zero value means
// the defaults (DefaultInitialInterval, DefaultMultiplier,
// DefaultMaxInterval, DefaultMaxAttempts, DefaultMaxElapsed, with Jitter),
// and each zero field means its default. A RetryPolicy is copied by Retry;
// changing it afterwards has no effect.
//
// Backoff delays apply to transient errors and to throttled errors that
// carry no Retry-After; a throttled error with a Retry-After waits exactly
// that long, never less, whatever InitialInterval, MaxInterval and jitter
// say. Retrying stops at whichever comes first: a permanent error,
// MaxAttempts attempts, a wait that would end after MaxElapsed, or the end
// of the caller's context.
type RetryPolicy struct {
	// InitialInterval is the delay after the first failed attempt. Zero
	// means DefaultInitialInterval; negative is invalid.
	InitialInterval time.Duration
	// Multiplier is the growth factor of successive delays. Zero means
	// DefaultMultiplier; otherwise it must be a finite number >= 1 (1 gives
	// a constant delay).
	Multiplier float64
	// MaxInterval caps each delay before jitter. Zero means the larger of
	// DefaultMaxInterval and InitialInterval; otherwise it must be at least
	// InitialInterval (after defaults). Negative is invalid.
	MaxInterval time.Duration
	// MaxAttempts bounds the number of attempts, the first included; 1
	// means no retry. Zero means DefaultMaxAttempts; negative is invalid.
	MaxAttempts int
	// MaxElapsed bounds the time from the start of the first attempt to the
	// start of the last: Retry never starts a wait that would end after it.
	// An attempt that has started may run past it (bound attempts with
	// Timeout). Zero means DefaultMaxElapsed; negative is invalid.
	MaxElapsed time.Duration
	// NoJitter turns jitter off, making backoff delays deterministic.
	NoJitter bool
}

// Validate reports the first invalid field of p, naming it, in an error
// wrapping ErrInvalidConfig. The zero RetryPolicy is valid.
func (p RetryPolicy) Validate() error {
	_, err := p.resolve()
	return err
}

// resolvedPolicy is a validated RetryPolicy with its defaults applied.
type resolvedPolicy struct {
	initial, maxInterval, maxElapsed time.Duration
	multiplier, jitter               float64
	maxAttempts                      int
}

func (p RetryPolicy) resolve() (resolvedPolicy, error) {
	bad := func(format string, args ...any) (resolvedPolicy, error) {
		return resolvedPolicy{}, fmt.Errorf("contain: %w: RetryPolicy.%s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case p.InitialInterval < 0:
		return bad("InitialInterval is negative (%s)", p.InitialInterval)
	case p.MaxInterval < 0:
		return bad("MaxInterval is negative (%s)", p.MaxInterval)
	case p.MaxElapsed < 0:
		return bad("MaxElapsed is negative (%s)", p.MaxElapsed)
	case p.MaxAttempts < 0:
		return bad("MaxAttempts is negative (%d)", p.MaxAttempts)
	case p.Multiplier != 0 && !(p.Multiplier >= 1 && !math.IsInf(p.Multiplier, 1)):
		return bad("Multiplier must be a finite number >= 1 or zero for the default (got %v)", p.Multiplier)
	}
	r := resolvedPolicy{
		initial:     cmpOr(p.InitialInterval, DefaultInitialInterval),
		multiplier:  cmpOr(p.Multiplier, DefaultMultiplier),
		maxAttempts: cmpOr(p.MaxAttempts, DefaultMaxAttempts),
		maxElapsed:  cmpOr(p.MaxElapsed, DefaultMaxElapsed),
		jitter:      Jitter,
	}
	r.maxInterval = cmpOr(p.MaxInterval, max(DefaultMaxInterval, r.initial))
	if r.maxInterval < r.initial {
		return bad("MaxInterval (%s) is less than InitialInterval (%s)", r.maxInterval, r.initial)
	}
	if p.NoJitter {
		r.jitter = 0
	}
	return r, nil
}

// cmpOr returns v, or def when v is zero.
func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// newBackOff returns a fresh exponential backoff for one Retry call. Retry
// enforces MaxElapsed itself, so the backoff never stops on its own.
func (r resolvedPolicy) newBackOff() *backoff.ExponentialBackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval:     r.initial,
		RandomizationFactor: r.jitter,
		Multiplier:          r.multiplier,
		MaxInterval:         r.maxInterval,
		MaxElapsedTime:      0,
		Stop:                backoff.Stop,
		Clock:               backoff.SystemClock,
	}
	b.Reset()
	return b
}

// Retry returns an action that executes a and, when an attempt fails,
// retries it according to p and to playbook.Classify of the error:
//
//   - ClassTransient: wait the next backoff delay, then retry;
//   - ClassThrottled: wait exactly playbook.RetryAfter(err) when the error
//     carries it (never less), otherwise the next backoff delay; a wait that
//     would end after p.MaxElapsed stops retrying at once instead;
//   - ClassPermanent: stop at once.
//
// Every attempt receives the same request, with the same IdempotencyKey,
// and with Attempt counting up from the request's Attempt (or from 1 when
// it is zero). The first successful attempt's result is returned
// (StatusAlreadyApplied passes through); when it took more than one
// attempt, a copy of its Response gains "attempts" (the count) and
// "retried_errors" (the errors retried, at most ten) for the audit trail. When retrying stops, Execute
// returns the last attempt's result and a *RetryError saying why, wrapping
// the last error. When ctx ends, during an attempt or a wait, Execute
// returns promptly with a *RetryError of Reason ReasonContext.
//
// The returned action keeps a's Name, is safe for concurrent use when a is
// (each call keeps its own backoff state) and unwraps to a. If a has a
// playbook.Undoer (itself or through Unwrap), the returned action is an
// Undoer too, whose Undo retries a's Undo with the same policy; otherwise
// it is not, so playbook.AsUndoer tells the truth. Planning passes through
// Unwrap undecorated.
//
// Waits use the time package, so testing/synctest controls them. A nil a or
// an invalid p is reported by every Execute and Undo call as a permanent
// error wrapping ErrInvalidConfig, without calling a; check p with
// RetryPolicy.Validate beforehand.
func Retry(a playbook.Action, p RetryPolicy) playbook.Action {
	r := &retrier{inner: a}
	var err error
	r.policy, err = p.resolve()
	switch {
	case a == nil:
		err = configError("Retry: nil action")
	case err != nil:
		err = playbook.Permanent(fmt.Errorf("%w (in Retry of action %q)", err, a.Name()))
	}
	return decorate(a, err, r.run)
}

type retrier struct {
	inner  playbook.Action
	policy resolvedPolicy
}

// run is the retry loop shared by Execute and Undo.
func (r *retrier) run(ctx context.Context, op string, req playbook.ActionRequest, attempt attemptFunc) (playbook.ActionResult, error) {
	stop := func(n int, reason string, last error) error {
		return &RetryError{Action: nameOf(r.inner), Op: op, Attempts: n, Reason: reason, Last: last}
	}
	if ctx.Err() != nil {
		return playbook.ActionResult{}, stop(0, ReasonContext, contextError(ctx, nil))
	}
	start := time.Now()
	first := max(req.Attempt, 1)
	var b *backoff.ExponentialBackOff // created on the first failure
	var failed []string               // the errors retried, for the evidence trail
	for n := 1; ; n++ {
		req.Attempt = first + n - 1
		res, err := attempt(ctx, req)
		if err == nil {
			if len(failed) > 0 {
				res.Response = maps.Clone(res.Response)
				if res.Response == nil {
					res.Response = make(map[string]any, 2)
				}
				res.Response["attempts"] = n
				res.Response["retried_errors"] = failed
			}
			return res, nil
		}
		if len(failed) < 10 {
			failed = append(failed, err.Error())
		}
		if ctx.Err() != nil {
			return res, stop(n, ReasonContext, contextError(ctx, err))
		}
		class := playbook.Classify(err)
		if class == playbook.ClassPermanent {
			return res, stop(n, ReasonPermanent, err)
		}
		if n >= r.policy.maxAttempts {
			return res, stop(n, ReasonAttempts, err)
		}
		wait, ok := time.Duration(0), false
		if class == playbook.ClassThrottled {
			wait, ok = playbook.RetryAfter(err)
		}
		if !ok {
			if b == nil {
				b = r.policy.newBackOff()
			}
			wait = b.NextBackOff()
		}
		if wait > r.policy.maxElapsed-time.Since(start) {
			return res, stop(n, ReasonBudget, err)
		}
		if !sleep(ctx, wait) {
			return res, stop(n, ReasonContext, contextError(ctx, err))
		}
	}
}

// sleep waits for d or until ctx ends, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// contextError returns an error that satisfies errors.Is with ctx.Err(),
// with ctx's cause, and with last (the last attempt's error, may be nil).
func contextError(ctx context.Context, last error) error {
	ctxErr := ctx.Err()
	var err error = ctxErr
	if cause := context.Cause(ctx); cause != nil && cause != ctxErr {
		err = fmt.Errorf("%w: %w", ctxErr, cause)
	}
	switch {
	case last == nil:
		return err
	case errors.Is(last, err):
		return last
	}
	return fmt.Errorf("%w (last attempt: %w)", err, last)
}
