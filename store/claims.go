package store

import (
	"sync"
	"time"
)

// claimTable holds event claims. Every claim in byKey has exactly one entry
// in the min-heap ordered by expiry, so pruning is O(log n) per expired
// claim and claim memory is bounded by the number of unexpired claims.
type claimTable struct {
	mu    sync.Mutex
	byKey map[string]claim
	heap  []expiry
	seq   uint64
}

// claim is the holder of one event key.
type claim struct {
	owner   string
	expires time.Time
	seq     uint64
}

// expiry is a heap entry: claim seq of key expires at at.
type expiry struct {
	at  time.Time
	key string
	seq uint64
}

// claim implements Memory.ClaimEvent on validated input.
func (c *claimTable) claim(key, runID string, now, expires time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prune(now)
	if cur, ok := c.byKey[key]; ok && now.Before(cur.expires) {
		return cur.owner, false
	}
	if c.byKey == nil {
		c.byKey = make(map[string]claim)
	}
	c.seq++
	c.byKey[key] = claim{owner: runID, expires: expires, seq: c.seq}
	c.push(expiry{at: expires, key: key, seq: c.seq})
	return runID, true
}

// prune drops every claim that expired by now. The caller holds c.mu.
func (c *claimTable) prune(now time.Time) {
	for len(c.heap) > 0 && !now.Before(c.heap[0].at) {
		top := c.pop()
		// A key re-claimed after its heap entry was written has a newer
		// seq; only the claim this entry was written for is dropped.
		if cur, ok := c.byKey[top.key]; ok && cur.seq == top.seq {
			delete(c.byKey, top.key)
		}
	}
}

// len returns the number of claims held. The caller holds c.mu.
func (c *claimTable) len() int { return len(c.byKey) }

func (c *claimTable) push(x expiry) {
	c.heap = append(c.heap, x)
	i := len(c.heap) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if !c.heap[i].at.Before(c.heap[parent].at) {
			break
		}
		c.heap[i], c.heap[parent] = c.heap[parent], c.heap[i]
		i = parent
	}
}

func (c *claimTable) pop() expiry {
	h := c.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h[last] = expiry{} // release the key string
	h = h[:last]
	i := 0
	for {
		l, r, least := 2*i+1, 2*i+2, i
		if l < len(h) && h[l].at.Before(h[least].at) {
			least = l
		}
		if r < len(h) && h[r].at.Before(h[least].at) {
			least = r
		}
		if least == i {
			break
		}
		h[i], h[least] = h[least], h[i]
		i = least
	}
	c.heap = h
	// Give back a backing array that a burst of claims left mostly empty.
	if cap(c.heap) > 1024 && len(c.heap) < cap(c.heap)/4 {
		c.heap = append([]expiry(nil), c.heap...)
	}
	return top
}
