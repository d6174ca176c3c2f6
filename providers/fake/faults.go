package fake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// AnyOp is the operation name that makes a fault apply to every operation.
const AnyOp = "*"

// DefaultRetryAfter is the delay a throttled call asks for when Faults
// gives none.
const DefaultRetryAfter = time.Second

// Faults are the persistent faults of one operation (or of AnyOp). The zero
// value injects nothing.
//
// For each call the provider first waits Latency, then fails the call with
// the first fault that applies, in this order: a scripted Fail, then
// PermissionDenied, NotFound, Throttle, ErrorRate. Faults set for the
// operation apply before those set for AnyOp; latencies add up.
type Faults struct {
	// ErrorRate is the probability, in [0, 1], that a call fails with a
	// transient playbook.ErrUnavailable (status 503). Draws come from the
	// provider's seeded source (see WithSeed), so a given seed and order of
	// calls fails the same calls every time.
	ErrorRate float64
	// Throttle is the number of next calls that fail with
	// playbook.ErrThrottled (status 429) carrying RetryAfter.
	Throttle int
	// RetryAfter is the delay throttled calls ask for; zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// Latency delays every call. The wait ends early, with ctx.Err(), when
	// the call's context ends.
	Latency time.Duration
	// PermissionDenied fails every call with playbook.ErrPermissionDenied
	// (status 403).
	PermissionDenied bool
	// NotFound fails every call with playbook.ErrNotFound (status 404).
	NotFound bool
}

func (f Faults) validate() error {
	switch {
	case f.ErrorRate < 0 || f.ErrorRate > 1 || f.ErrorRate != f.ErrorRate:
		return fmt.Errorf("Faults.ErrorRate %v is outside [0, 1]", f.ErrorRate)
	case f.Throttle < 0:
		return fmt.Errorf("Faults.Throttle %d is negative", f.Throttle)
	case f.RetryAfter < 0:
		return fmt.Errorf("Faults.RetryAfter %s is negative", f.RetryAfter)
	case f.Latency < 0:
		return fmt.Errorf("Faults.Latency %s is negative", f.Latency)
	}
	return nil
}

type scripted struct {
	err   error
	times int
}

type faultState struct {
	Faults
	script []scripted
}

// SetFaults replaces the persistent faults of op (an operation name, see
// the Op constants and the action names, or AnyOp). Scripted failures added
// with Fail are kept. An invalid Faults value is an error naming the field.
func (p *Provider) SetFaults(op string, f Faults) error {
	if op == "" {
		return errors.New("fake: SetFaults: op is empty (use AnyOp for every operation)")
	}
	if err := f.validate(); err != nil {
		return fmt.Errorf("fake: SetFaults %q: %w", op, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faultLocked(op).Faults = f
	return nil
}

// Fail makes the next times calls of op (or of any operation, for AnyOp)
// fail with err. Scripted failures queue up in the order they were added.
// An err that holds no *playbook.ProviderError is wrapped in one, whose
// Status follows the canonical error err wraps (404 for ErrNotFound, 429
// for ErrThrottled, ...), so that it looks like any other provider failure.
func (p *Provider) Fail(op string, err error, times int) error {
	switch {
	case op == "":
		return errors.New("fake: Fail: op is empty (use AnyOp for every operation)")
	case err == nil:
		return fmt.Errorf("fake: Fail %q: err is nil", op)
	case times <= 0:
		return fmt.Errorf("fake: Fail %q: times is %d, want at least 1", op, times)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fs := p.faultLocked(op)
	fs.script = append(fs.script, scripted{err: err, times: times})
	return nil
}

// Throttle makes the next times calls of op fail with a
// *playbook.ProviderError wrapping playbook.ErrThrottled, status 429,
// carrying retryAfter (DefaultRetryAfter when zero).
func (p *Provider) Throttle(op string, retryAfter time.Duration, times int) error {
	if retryAfter < 0 {
		return fmt.Errorf("fake: Throttle %q: retryAfter %s is negative", op, retryAfter)
	}
	if retryAfter == 0 {
		retryAfter = DefaultRetryAfter
	}
	return p.Fail(op, &playbook.ProviderError{
		Provider: p.name, Op: op, Status: http.StatusTooManyRequests, Code: "TooManyRequests",
		Message: "injected fault", RetryAfter: retryAfter, Err: playbook.ErrThrottled,
	}, times)
}

// ClearFaults removes every fault, persistent and scripted.
func (p *Provider) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.faults)
	p.faulty.Store(false)
}

func (p *Provider) faultLocked(op string) *faultState {
	fs, ok := p.faults[op]
	if !ok {
		fs = &faultState{}
		p.faults[op] = fs
		p.faulty.Store(true)
	}
	return fs
}

// inject applies the faults of op to one call: it decides the outcome with
// the provider locked (so that concurrent calls consume scripted faults and
// random draws one at a time), then waits the latency unlocked.
func (p *Provider) inject(ctx context.Context, op string) error {
	if !p.faulty.Load() {
		return nil
	}
	p.mu.Lock()
	if len(p.faults) == 0 {
		p.mu.Unlock()
		return nil
	}
	var latency time.Duration
	var err error
	for _, name := range [2]string{op, AnyOp} {
		fs, ok := p.faults[name]
		if !ok {
			continue
		}
		latency += fs.Latency
		if err == nil {
			err = p.decideLocked(fs, op)
		}
	}
	p.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
	return err
}

func (p *Provider) decideLocked(fs *faultState, op string) error {
	if len(fs.script) > 0 {
		s := &fs.script[0]
		err := s.err
		s.times--
		if s.times == 0 {
			fs.script = fs.script[1:]
		}
		return p.asProviderError(op, err)
	}
	switch {
	case fs.PermissionDenied:
		return p.injected(op, http.StatusForbidden, "Forbidden", playbook.ErrPermissionDenied, 0)
	case fs.NotFound:
		return p.injected(op, http.StatusNotFound, "NotFound", playbook.ErrNotFound, 0)
	case fs.Throttle > 0:
		fs.Throttle--
		ra := fs.RetryAfter
		if ra == 0 {
			ra = DefaultRetryAfter
		}
		return p.injected(op, http.StatusTooManyRequests, "TooManyRequests", playbook.ErrThrottled, ra)
	case fs.ErrorRate > 0 && p.rng.Float64() < fs.ErrorRate:
		return p.injected(op, http.StatusServiceUnavailable, "ServiceUnavailable", playbook.ErrUnavailable, 0)
	}
	return nil
}

func (p *Provider) injected(op string, status int, code string, err error, retryAfter time.Duration) error {
	return &playbook.ProviderError{
		Provider: p.name, Op: op, Status: status, Code: code,
		Message: "injected fault", RetryAfter: retryAfter, Err: err,
	}
}

var canonicalStatus = []struct {
	err    error
	status int
}{
	{playbook.ErrNotFound, http.StatusNotFound},
	{playbook.ErrPermissionDenied, http.StatusForbidden},
	{playbook.ErrUnauthenticated, http.StatusUnauthorized},
	{playbook.ErrInvalidRequest, http.StatusBadRequest},
	{playbook.ErrConflict, http.StatusConflict},
	{playbook.ErrUnsupported, http.StatusNotImplemented},
	{playbook.ErrThrottled, http.StatusTooManyRequests},
	{playbook.ErrUnavailable, http.StatusServiceUnavailable},
}

// asProviderError returns err unchanged when it already holds a
// *playbook.ProviderError, and wraps it in one otherwise.
func (p *Provider) asProviderError(op string, err error) error {
	var pe *playbook.ProviderError
	if errors.As(err, &pe) {
		return err
	}
	status := 0
	for _, c := range canonicalStatus {
		if errors.Is(err, c.err) {
			status = c.status
			break
		}
	}
	return &playbook.ProviderError{Provider: p.name, Op: op, Status: status, Message: "injected fault", Err: err}
}
