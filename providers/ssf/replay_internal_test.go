package ssf

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestReplayCache: entries are refused while in flight and once done,
// released on failure, expire at their deadline, and the oldest go first
// when the cache is full.
func TestReplayCache(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newReplayCache(3)
	assert.Equal(t, claimNew, c.claim("a", now, now.Add(time.Hour)))
	assert.Equal(t, claimInFlight, c.claim("a", now, now.Add(time.Hour)))
	c.finish("a", true)
	assert.Equal(t, claimDone, c.claim("a", now, now.Add(time.Hour)))

	assert.Equal(t, claimNew, c.claim("b", now, now.Add(time.Hour)))
	c.finish("b", false)
	assert.Equal(t, claimNew, c.claim("b", now, now.Add(time.Hour)), "a failed hand-off is forgotten")
	c.finish("b", true)

	assert.Equal(t, claimDone, c.claim("a", now.Add(59*time.Minute), now.Add(2*time.Hour)))
	assert.Equal(t, claimNew, c.claim("a", now.Add(time.Hour), now.Add(2*time.Hour)), "expired at its deadline")
	c.finish("a", true)

	for i := range 10 {
		c.claim(fmt.Sprint("k", i), now.Add(time.Hour), now.Add(3*time.Hour))
	}
	assert.Equal(t, 3, c.len(), "bounded")
	assert.Equal(t, claimNew, c.claim("k0", now.Add(time.Hour), now.Add(3*time.Hour)), "the oldest was evicted")
}
