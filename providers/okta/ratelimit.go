package okta

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// fallbackReset is the wait after a 429 that carries no usable
// X-Rate-Limit-Reset: Okta's buckets are per minute.
const fallbackReset = 60 * time.Second

// limiter keeps Okta's rate-limit state per endpoint bucket, as the
// X-Rate-Limit-* headers of the bucket's last reply report it.
//
// Before a request it waits:
//   - until X-Rate-Limit-Reset after a 429 (nothing is sent before);
//   - when Remaining has fallen under pace×Limit, long enough to spread the
//     remaining requests evenly until Reset;
//   - when Remaining is 0, until Reset.
type limiter struct {
	pace float64
	mu   sync.Mutex
	b    map[string]*bucket
}

type bucket struct {
	limit, remaining int
	known            bool
	reset            time.Time // from X-Rate-Limit-Reset
	blocked          time.Time // after a 429: nothing before this
	next             time.Time // earliest start of the next paced request
}

func newLimiter(pace float64) *limiter { return &limiter{pace: pace, b: map[string]*bucket{}} }

// wait blocks until a request to the bucket may be sent, reserving its
// slot, or until ctx ends.
func (l *limiter) wait(ctx context.Context, key string) error {
	l.mu.Lock()
	b := l.b[key]
	if b == nil {
		b = &bucket{}
		l.b[key] = b
	}
	now := time.Now()
	at := now
	if b.blocked.After(at) {
		at = b.blocked
	}
	if b.known && b.reset.After(now) {
		switch {
		case b.remaining <= 0:
			at = later(at, b.reset)
		case float64(b.remaining) < l.pace*float64(b.limit):
			gap := b.reset.Sub(now) / time.Duration(b.remaining+1)
			if b.next.IsZero() {
				b.next = now.Add(gap)
			}
			at = later(at, b.next)
			b.next = at.Add(gap)
			b.remaining-- // the reserved request uses one of them
		default:
			b.remaining--
		}
	}
	l.mu.Unlock()
	return sleepCtx(ctx, at.Sub(now))
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// observe records a reply's rate-limit headers.
func (l *limiter) observe(key string, status int, h http.Header) {
	limit, lerr := strconv.Atoi(h.Get("X-Rate-Limit-Limit"))
	remaining, rerr := strconv.Atoi(h.Get("X-Rate-Limit-Remaining"))
	now := time.Now()
	reset, ok := resetAt(h, now)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b[key]
	if b == nil {
		b = &bucket{}
		l.b[key] = b
	}
	if lerr == nil && rerr == nil && ok && limit > 0 {
		if reset.After(b.reset) {
			b.next = time.Time{} // a new window
		}
		b.limit, b.remaining, b.reset, b.known = limit, remaining, reset, true
	}
	if status == http.StatusTooManyRequests {
		switch {
		case !ok:
			reset = now.Add(fallbackReset)
		case !reset.After(now):
			reset = now.Add(time.Second) // the bucket reopened already
		}
		b.blocked = later(b.blocked, reset)
		b.remaining = 0
	}
}

// parseReset reads X-Rate-Limit-Reset, UTC epoch seconds.
func parseReset(h http.Header) (time.Time, bool) {
	v := h.Get("X-Rate-Limit-Reset")
	if v == "" {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil || sec <= 0 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0), true
}

// resetAt converts X-Rate-Limit-Reset to the local clock. The header is
// the org's clock; when the reply carries a Date, the wait is measured
// from it, so that a local clock running behind or ahead of Okta's neither
// sends early nor waits for nothing. Date has whole seconds and is rounded
// down, so the converted time is never earlier than the real reset.
func resetAt(h http.Header, now time.Time) (time.Time, bool) {
	reset, ok := parseReset(h)
	if !ok {
		return time.Time{}, false
	}
	if d, err := http.ParseTime(h.Get("Date")); err == nil {
		return now.Add(reset.Sub(d)), true
	}
	return reset, true
}

// resetDelay is how long until X-Rate-Limit-Reset, at least one second,
// and fallbackReset when the header is missing.
func resetDelay(h http.Header, now time.Time) time.Duration {
	reset, ok := resetAt(h, now)
	if !ok {
		return fallbackReset
	}
	return max(reset.Sub(now), time.Second)
}
