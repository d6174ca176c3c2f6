package ssf

import (
	"container/list"
	"sync"
	"time"
)

// replayCache remembers the (issuer, jti) keys of SETs recently received,
// bounded in size and in time. An entry is in flight while its SET is being
// handed to the runner and done afterwards; a failed hand-off releases it so
// that a redelivery is processed again. Entries expire at the end of the
// verifier's iat window, after which a replay is refused as stale anyway;
// when the cache is full the oldest entries go first (the runner's durable
// de-duplication still catches their replays).
type replayCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *replayEntry, oldest first
	byKey map[string]*list.Element
}

type replayEntry struct {
	key     string
	expires time.Time
	done    bool
}

func newReplayCache(max int) *replayCache {
	return &replayCache{max: max, order: list.New(), byKey: make(map[string]*list.Element)}
}

// claimState says what claim found.
type claimState int

const (
	claimNew      claimState = iota // the caller now owns the key
	claimInFlight                   // another delivery of the SET is being handled
	claimDone                       // the SET was handled before
)

// claim reserves key until expires, unless it is already present.
func (c *replayCache) claim(key string, now, expires time.Time) claimState {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if el, ok := c.byKey[key]; ok {
		if el.Value.(*replayEntry).done {
			return claimDone
		}
		return claimInFlight
	}
	for c.order.Len() >= c.max {
		c.removeLocked(c.order.Front())
	}
	c.byKey[key] = c.order.PushBack(&replayEntry{key: key, expires: expires})
	return claimNew
}

// finish marks key done (ok) or forgets it (!ok).
func (c *replayCache) finish(key string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, found := c.byKey[key]
	if !found {
		return
	}
	if ok {
		el.Value.(*replayEntry).done = true
	} else {
		c.removeLocked(el)
	}
}

func (c *replayCache) expireLocked(now time.Time) {
	// Entries are appended with roughly increasing expiry; sweep from the
	// front while they are due. An out-of-order entry lives a little
	// longer, which is harmless.
	for el := c.order.Front(); el != nil; {
		e := el.Value.(*replayEntry)
		if now.Before(e.expires) {
			break
		}
		next := el.Next()
		c.removeLocked(el)
		el = next
	}
}

func (c *replayCache) removeLocked(el *list.Element) {
	delete(c.byKey, el.Value.(*replayEntry).key)
	c.order.Remove(el)
}

func (c *replayCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
