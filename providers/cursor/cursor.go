package cursor

import (
	"context"
	"sync"
)

// Store keeps small string values by key: a poller's cursor, a provider's
// idempotency records.
//
// Get returns the value last stored under key and ok=true, or "", false
// and a nil error when nothing is stored under it. An empty value is a
// value: Put(key, "") makes Get report ok=true.
//
// Put replaces the value under key. It returns once the value is as
// durable as the implementation promises (in memory: visible to later
// Gets; a file or database: synced to stable storage), and every Get that
// starts after it returns, in any goroutine, sees the value or a later
// one. When Put fails, the value may or may not have been stored, except
// that a Put called with a ctx that is already done stores nothing.
//
// Both are safe for concurrent use. Concurrent Puts to one key leave one
// of their values, never a mix. Both return an error wrapping ctx.Err()
// when ctx is done before they take effect; other errors name the key or
// the backing file, never the value (a cursor may embed a vendor URL, but
// an idempotency record should stay out of logs). Keys and values are
// arbitrary strings, empty ones included; implementations may bound their
// size, and must report a refused one with an error.
type Store interface {
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	Put(ctx context.Context, key, value string) error
}

// Memory is a Store held in memory: its values last as long as the
// process. The zero value is empty and ready; a Memory must not be copied
// after first use. It is safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	m  map[string]string
}

var _ Store = (*Memory)(nil)

// Get returns the value stored under key. It fails only when ctx is done.
func (s *Memory) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Put stores value under key. It fails only when ctx is done, and then
// stores nothing.
func (s *Memory) Put(ctx context.Context, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[key] = value
	return nil
}
