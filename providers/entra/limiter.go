package entra

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Limiter spaces requests at least Interval apart, in the order they ask.
// Graph limits Identity Protection endpoints to one request per second per
// tenant, for all apps together, and its 429s there carry no Retry-After,
// so the client paces itself instead of learning the limit from errors.
//
// A Limiter is safe for concurrent use. Share one among the Clients of a
// tenant in a process; the zero value is not usable, call NewLimiter.
type Limiter struct {
	interval time.Duration

	mu   sync.Mutex
	next time.Time // earliest time the next request may go
}

// NewLimiter returns a limiter that lets one request through per interval.
// It panics if interval is not positive: that is a programming error.
func NewLimiter(interval time.Duration) *Limiter {
	if interval <= 0 {
		panic(fmt.Sprintf("entra: NewLimiter(%s): interval must be positive", interval))
	}
	return &Limiter{interval: interval}
}

// Wait blocks until the caller may send its request, reserving a slot
// Interval after the previous one. When ctx ends first it returns
// ctx.Err(); the reserved slot is not given back, which errs on the side
// of sending less.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Interval returns the spacing between requests.
func (l *Limiter) Interval() time.Duration { return l.interval }
