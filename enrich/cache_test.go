package enrich_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
)

// looker is an enricher that starts after delay, looks up key with fetch
// and stores the result under its own name.
type looker struct {
	name  string
	delay time.Duration
	key   string
	fetch func(context.Context) (string, error)
	got   chan string
}

func (l looker) Enrich(ctx context.Context, c *playbook.Case) error {
	time.Sleep(l.delay)
	v, err := enrich.Lookup(ctx, l.key, l.fetch)
	if err != nil {
		return err
	}
	l.got <- l.name + "=" + v
	return nil
}

// countingFetch returns a fetch that takes d and returns "v:" + key, and
// the counter of its calls.
func countingFetch(key string, d time.Duration) (func(context.Context) (string, error), *atomic.Int32) {
	var calls atomic.Int32
	return func(ctx context.Context) (string, error) {
		calls.Add(1)
		select {
		case <-time.After(d):
			return "v:" + key, nil
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}, &calls
}

func TestLookupSharesOneCallPerKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keys      []string // one enricher per key, all starting at once
		lateKey   string   // looked up by an enricher starting after the others finished
		wantCalls int32
	}{
		{"same key in flight and memoized", []string{"user", "user", "user"}, "user", 1},
		{"different keys", []string{"user", "roles", "groups"}, "roles", 3},
		{"late key not seen before", []string{"user", "user"}, "groups", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var calls atomic.Int32
				fetches := map[string]func(context.Context) (string, error){}
				for _, k := range append(tt.keys, tt.lateKey) {
					fetches[k] = func(ctx context.Context) (string, error) {
						calls.Add(1)
						time.Sleep(10 * time.Millisecond)
						return "v:" + k, nil
					}
				}
				got := make(chan string, len(tt.keys)+1)
				var specs []enrich.Spec
				for i, k := range tt.keys {
					name := fmt.Sprint("e", i)
					specs = append(specs, enrich.Required(name, looker{name: name, key: k, fetch: fetches[k], got: got}, 0))
				}
				specs = append(specs, enrich.Required("late",
					looker{name: "late", delay: 50 * time.Millisecond, key: tt.lateKey, fetch: fetches[tt.lateKey], got: got}, 0))
				g := mustParallel(t, enrich.Options{}, specs...)

				require.NoError(t, g.Enrich(t.Context(), newCase()))
				assert.Equal(t, tt.wantCalls, calls.Load(), "fetch calls")
				close(got)
				seen := map[string]bool{}
				for v := range got {
					seen[v] = true
				}
				for i, k := range tt.keys {
					if v := fmt.Sprintf("e%d=v:%s", i, k); !seen[v] {
						t.Errorf("missing result %q in %v", v, seen)
					}
				}
				if v := "late=v:" + tt.lateKey; !seen[v] {
					t.Errorf("missing result %q in %v", v, seen)
				}
			})
		})
	}
}

func TestLookupErrorsAreNotMemoized(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		fetch := func(ctx context.Context) (string, error) {
			n := calls.Add(1)
			time.Sleep(10 * time.Millisecond)
			if n == 1 {
				return "", errBoom
			}
			return "ok", nil
		}
		got := make(chan string, 3)
		g := mustParallel(t, enrich.Options{},
			enrich.Optional("a", looker{name: "a", key: "k", fetch: fetch, got: got}, 0),
			enrich.Optional("b", looker{name: "b", delay: time.Millisecond, key: "k", fetch: fetch, got: got}, 0),
			enrich.Optional("c", looker{name: "c", delay: time.Second, key: "k", fetch: fetch, got: got}, 0))
		c := newCase()
		require.NoError(t, g.Enrich(t.Context(), c))

		assert.Equal(t, int32(2), calls.Load(), "fetch calls")
		assert.Equal(t, []playbook.EnrichmentFailure{
			{Enricher: "a", Error: "boom"},
			{Enricher: "b", Error: "boom"},
		}, c.Facts.Failures, "failures (b shared a's failed call)")
		assert.Equal(t, "c=ok", <-got, "late lookup")
	})
}

func TestLookupTypeMismatch(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		errs := make(chan error, 2)
		asString := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
			_, err := enrich.Lookup(ctx, "k", func(context.Context) (string, error) {
				time.Sleep(time.Millisecond)
				return "s", nil
			})
			return err
		})
		asInt := func(delay time.Duration) playbook.Enricher {
			return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
				time.Sleep(delay)
				_, err := enrich.Lookup(ctx, "k", func(context.Context) (int, error) { return 1, nil })
				errs <- err
				return nil
			})
		}
		g := mustParallel(t, enrich.Options{},
			enrich.Required("string", asString, 0),
			enrich.Optional("int-in-flight", asInt(500*time.Microsecond), 0),
			enrich.Optional("int-memoized", asInt(time.Second), 0))
		require.NoError(t, g.Enrich(t.Context(), newCase()))
		for range 2 {
			err := <-errs
			assert.ErrorIs(t, err, enrich.ErrTypeMismatch)
			require.ErrorContains(t, err, `key "k" holds a string, Lookup asks for a int`)
		}
	})
}

func TestLookupMemoizesNilValues(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	lookup := func(ctx context.Context) (any, error) {
		return enrich.Lookup(ctx, "nothing", func(context.Context) (any, error) {
			calls.Add(1)
			return nil, nil
		})
	}
	e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		for range 2 {
			v, err := lookup(ctx)
			if err != nil || v != nil {
				return fmt.Errorf("got %v, %v; want nil, nil", v, err)
			}
		}
		return nil
	})
	g := mustParallel(t, enrich.Options{}, enrich.Required("e", e, 0))
	require.NoError(t, g.Enrich(t.Context(), newCase()))
	assert.Equal(t, int32(1), calls.Load(), "fetch calls")
}

func TestLookupOutsideGroupCallsFetch(t *testing.T) {
	t.Parallel()
	fetch, calls := countingFetch("k", 0)
	for range 2 {
		v, err := enrich.Lookup(t.Context(), "k", fetch)
		require.NoError(t, err)
		assert.Equal(t, "v:k", v, "value")
	}
	assert.Equal(t, int32(2), calls.Load(), "fetch calls")
}

func TestLookupRejectsBadInput(t *testing.T) {
	t.Parallel()
	fetch, _ := countingFetch("k", 0)
	tests := []struct {
		name  string
		key   string
		fetch func(context.Context) (string, error)
		want  string
	}{
		{"empty key", "", fetch, "empty key"},
		{"nil fetch", "k", nil, `Lookup "k" with a nil fetch function`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
				_, err = enrich.Lookup(ctx, tt.key, tt.fetch)
				return err
			})
			require.ErrorContains(t, e.Enrich(t.Context(), newCase()), tt.want)
			g := mustParallel(t, enrich.Options{}, enrich.Required("e", e, 0))
			require.ErrorContains(t, g.Enrich(t.Context(), newCase()), tt.want)
		})
	}
}

func TestLookupCallerTimeoutDoesNotFailSharers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fetch, calls := countingFetch("k", 5*time.Second)
		got := make(chan string, 2)
		g := mustParallel(t, enrich.Options{},
			enrich.Optional("hasty", looker{name: "hasty", key: "k", fetch: fetch, got: got}, time.Second),
			// patient joins the call that hasty started, then hasty times out.
			enrich.Required("patient", looker{name: "patient", delay: time.Millisecond, key: "k", fetch: fetch, got: got}, 10*time.Second))
		c := newCase()

		start := time.Now()
		require.NoError(t, g.Enrich(t.Context(), c))
		assert.Equal(t, 5*time.Second, time.Since(start), "elapsed")
		assert.Equal(t, int32(1), calls.Load(), "fetch calls")
		assert.Equal(t, "patient=v:k", <-got, "patient result")
		assert.Equal(t, []playbook.EnrichmentFailure{
			{Enricher: "hasty", Error: `enricher "hasty" timed out after 1s`},
		}, c.Facts.Failures, "failures")
	})
}

func TestLookupFetchIsCancelledWhenRunEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		ended := make(chan time.Duration, 1)
		fetch := func(ctx context.Context) (string, error) {
			<-ctx.Done()
			ended <- time.Since(start)
			return "", ctx.Err()
		}
		g := mustParallel(t, enrich.Options{},
			enrich.Optional("a", looker{name: "a", key: "k", fetch: fetch}, time.Second))
		require.NoError(t, g.Enrich(t.Context(), newCase()))
		synctest.Wait()
		select {
		case d := <-ended:
			assert.Equal(t, time.Second, d, "fetch cancelled after")
		default:
			t.Fatal("fetch still running after Enrich returned")
		}
	})
}

func TestLookupRecoversPanic(t *testing.T) {
	t.Parallel()
	e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		_, err := enrich.Lookup(ctx, "k", func(context.Context) (int, error) { panic("bad fetch") })
		return err
	})
	g := mustParallel(t, enrich.Options{}, enrich.Required("e", e, 0))
	err := g.Enrich(t.Context(), newCase())
	var pe *playbook.PanicError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "enrich lookup k", pe.Stage, "Stage")
	assert.Equal(t, "bad fetch", pe.Value, "Value")
	var ee *enrich.Error
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, "e", ee.Enricher, "Error.Enricher")
}

func TestLookupSharedAcrossNestedGroups(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fetch, calls := countingFetch("user", 10*time.Millisecond)
		got := make(chan string, 3)
		inner := mustParallel(t, enrich.Options{},
			enrich.Required("i1", looker{name: "i1", key: "user", fetch: fetch, got: got}, 0),
			enrich.Required("i2", looker{name: "i2", delay: time.Second, key: "user", fetch: fetch, got: got}, 0))
		outer := mustParallel(t, enrich.Options{},
			enrich.Required("inner", inner, 0),
			enrich.Required("o", looker{name: "o", key: "user", fetch: fetch, got: got}, 0))
		require.NoError(t, outer.Enrich(t.Context(), newCase()))
		assert.Equal(t, int32(1), calls.Load(), "fetch calls")
		assert.Len(t, got, 3, "results")
	})
}

func TestLookupCacheIsPerRun(t *testing.T) {
	t.Parallel()
	fetch, calls := countingFetch("k", 0)
	g := mustParallel(t, enrich.Options{},
		enrich.Required("a", looker{name: "a", key: "k", fetch: fetch, got: make(chan string, 3)}, 0))
	for range 3 {
		require.NoError(t, g.Enrich(t.Context(), newCase()))
	}
	assert.Equal(t, int32(3), calls.Load(), "fetch calls (one per run)")
}

func TestLookupCallerCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		fetch, _ := countingFetch("k", time.Hour)
		errs := make(chan error, 1)
		e := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
			_, err := enrich.Lookup(ctx, "k", fetch)
			errs <- err
			return err
		})
		g := mustParallel(t, enrich.Options{}, enrich.Optional("e", e, time.Minute))
		require.NoError(t, g.Enrich(t.Context(), newCase()))
		err := <-errs
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		var te *enrich.TimeoutError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, "e", te.Enricher, "Lookup returned the timeout of another enricher")
	})
}
