package enrich

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime/debug"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// ErrTypeMismatch is wrapped by the error Lookup returns when a key already
// holds (or is being fetched as) a value of another type than the caller
// asks for.
var ErrTypeMismatch = errors.New("enrich: cached value has another type")

// errRunEnded is the cause of a fetch's context once the Group.Enrich run
// that owns the cache has returned.
var errRunEnded = errors.New("enrich: enrichment run ended")

// Lookup returns the value of key for the current enrichment run, calling
// fetch at most once per run for each key that fetch succeeds for.
//
// Inside a Group's Enrich (ctx is, or derives from, the context an enricher
// received), concurrent lookups of the same key share one in-flight call to
// fetch, and a successful result is remembered until the run's enrichment
// ends, so later lookups return it without calling fetch. Errors are not
// remembered: the lookups that shared the failed call all receive its error,
// and the next lookup calls fetch again. Nested Groups share one cache.
//
// Outside a Group, Lookup just returns fetch(ctx).
//
// fetch runs with a context that carries the values of the first caller's
// ctx but not its deadline or cancellation: it is cancelled when the
// Enrich run ends instead, so that one enricher timing out does not fail
// the call for the others sharing it. Each caller stops waiting when its own
// ctx ends and then returns context.Cause(ctx). A panic in fetch is
// recovered and returned as a *playbook.PanicError. fetch must not look up
// its own key.
//
// Keys are shared by every enricher of the run, so qualify them by what
// they fetch ("entra.user:" + id). If key holds a value of another type
// than T, Lookup returns an error wrapping ErrTypeMismatch; an empty key
// or a nil fetch is an error too. Lookup never panics on bad input.
func Lookup[T any](ctx context.Context, key string, fetch func(ctx context.Context) (T, error)) (T, error) {
	var zero T
	if key == "" {
		return zero, errors.New("enrich: Lookup with an empty key")
	}
	if fetch == nil {
		return zero, fmt.Errorf("enrich: Lookup %q with a nil fetch function", key)
	}
	cc := cacheFrom(ctx)
	if cc == nil {
		return fetch(ctx)
	}
	if v, ok := cc.load(key); ok {
		return unbox[T](key, v)
	}
	ch := cc.flight.DoChan(key, func() (any, error) {
		// A call that finished between load and DoChan stored its value.
		if v, ok := cc.load(key); ok {
			return v, nil
		}
		fctx, release := cc.detach(ctx)
		defer release()
		v, err := safeFetch(fctx, key, fetch)
		if err != nil {
			return nil, err
		}
		b := box[T]{v: v}
		cc.store(key, b)
		return b, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return zero, r.Err
		}
		v, _ := r.Val.(boxed) // the flight function returns only boxed values
		return unbox[T](key, v)
	case <-ctx.Done():
		return zero, context.Cause(ctx)
	}
}

func safeFetch[T any](ctx context.Context, key string, fetch func(context.Context) (T, error)) (v T, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &playbook.PanicError{Stage: "enrich lookup " + key, Value: r, Stack: debug.Stack()}
		}
	}()
	return fetch(ctx)
}

// boxed is a cached value; box[T] records T exactly, even when the value is
// a nil interface.
type boxed interface{ typeName() string }

type box[T any] struct{ v T }

func (box[T]) typeName() string { return reflect.TypeFor[T]().String() }

func unbox[T any](key string, v boxed) (T, error) {
	if b, ok := v.(box[T]); ok {
		return b.v, nil
	}
	var zero T
	if v == nil {
		return zero, fmt.Errorf("enrich: Lookup %q: the shared call returned no value", key)
	}
	return zero, fmt.Errorf("%w: key %q holds a %s, Lookup asks for a %s",
		ErrTypeMismatch, key, v.typeName(), reflect.TypeFor[T]())
}

type cacheKey struct{}

func cacheFrom(ctx context.Context) *cache {
	cc, _ := ctx.Value(cacheKey{}).(*cache)
	return cc
}

// cache is the memory of one Group.Enrich run.
type cache struct {
	flight singleflight.Group

	mu      sync.Mutex
	memo    map[string]boxed
	cancels map[uint64]context.CancelCauseFunc // fetches in flight
	next    uint64
	closed  bool
}

// newCache returns an empty cache; its maps are made on first use, since
// most runs never call Lookup.
func newCache() *cache { return &cache{} }

func (c *cache) load(key string) (boxed, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.memo[key]
	return v, ok
}

func (c *cache) store(key string, v boxed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		if c.memo == nil {
			c.memo = make(map[string]boxed)
		}
		c.memo[key] = v
	}
}

// detach returns a context for a fetch: ctx's values, cancelled when the
// run ends. release must be called when the fetch returns.
func (c *cache) detach(ctx context.Context) (context.Context, func()) {
	fctx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		cancel(errRunEnded)
		return fctx, func() {}
	}
	id := c.next
	c.next++
	if c.cancels == nil {
		c.cancels = make(map[uint64]context.CancelCauseFunc)
	}
	c.cancels[id] = cancel
	return fctx, func() {
		c.mu.Lock()
		delete(c.cancels, id)
		c.mu.Unlock()
		cancel(nil)
	}
}

// close ends the run: fetches still in flight are cancelled and the memory
// is dropped.
func (c *cache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	for _, cancel := range c.cancels {
		cancel(errRunEnded)
	}
	clear(c.cancels)
	clear(c.memo)
}
