package keylock

import "sync"

// Map is a set of mutexes, one per key, created on first use and dropped
// when no caller holds or waits for it, so its size is bounded by the
// number of keys in use at once. The zero value is ready; a Map must not be
// copied after first use. It is safe for concurrent use.
type Map struct {
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	// held has room for one token: the holder's. A channel rather than a
	// sync.Mutex, so that a waiter is durably blocked for
	// testing/synctest.
	held chan struct{}
	refs int // holders and waiters
}

// Lock blocks until the caller holds key's mutex and returns the function
// that releases it. The release function must be called exactly once;
// calling it again panics (as unlocking an unlocked sync.Mutex does).
// Lock does not take a context: holders are expected to be short-lived.
func (k *Map) Lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*entry)
	}
	e := k.m[key]
	if e == nil {
		e = &entry{held: make(chan struct{}, 1)}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()

	e.held <- struct{}{}
	var once sync.Once
	return func() {
		released := false
		once.Do(func() {
			released = true
			<-e.held
			k.mu.Lock()
			if e.refs--; e.refs == 0 {
				delete(k.m, key)
			}
			k.mu.Unlock()
		})
		if !released {
			panic("keylock: unlock of key " + key + " called twice")
		}
	}
}

// Len returns the number of keys currently held or waited for.
func (k *Map) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}
