package keylock_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/internal/keylock"
)

func TestLock(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// second is the key the second caller locks while the first
		// holds "a".
		second    string
		wantBlock bool
	}{
		{name: "same key waits", second: "a", wantBlock: true},
		{name: "other key proceeds", second: "b", wantBlock: false},
		{name: "keys compare exactly", second: "A", wantBlock: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var k keylock.Map
				unlockA := k.Lock("a")
				var got atomic.Bool
				done := make(chan struct{})
				go func() {
					unlock := k.Lock(tc.second)
					got.Store(true)
					unlock()
					close(done)
				}()
				synctest.Wait() // the goroutine has run as far as it can
				assert.Equal(t, !tc.wantBlock, got.Load(), "second Lock(%q) acquired while %q is held", tc.second, "a")
				unlockA()
				<-done
				assert.True(t, got.Load())
				assert.Zero(t, k.Len(), "released keys are dropped")
			})
		})
	}
}

// Many callers on few keys never overlap on a key, and every entry is
// dropped once they are done.
func TestLockExcludesPerKey(t *testing.T) {
	t.Parallel()
	var k keylock.Map
	var inside [4]atomic.Int32
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			n := i % len(inside)
			unlock := k.Lock(fmt.Sprint("key-", n))
			defer unlock()
			if inside[n].Add(1) != 1 {
				t.Errorf("two holders of key-%d at once", n)
			}
			inside[n].Add(-1)
		})
	}
	wg.Wait()
	assert.Zero(t, k.Len())
}

func TestUnlockTwicePanics(t *testing.T) {
	t.Parallel()
	var k keylock.Map
	unlock := k.Lock("a")
	unlock()
	require.PanicsWithValue(t, "keylock: unlock of key a called twice", unlock)
	other := k.Lock("a") // the key is usable again
	other()
}
