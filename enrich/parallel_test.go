package enrich_test

import (
	"context"
	"errors"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/iamplaybook/iamplaybook/enrich"
	"github.com/iamplaybook/iamplaybook/playbook"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errBoom = errors.New("boom")

func newCase() *playbook.Case {
	return playbook.NewCase("run-1", playbook.Event{ID: "ev-1", Subject: playbook.Subject{ID: "u-1"}})
}

// tagger waits d (or until ctx ends) and then adds tag to the case.
func tagger(tag string, d time.Duration) playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
		c.Update(func(f *playbook.Facts) { f.Tags = append(f.Tags, tag) })
		return nil
	})
}

// failing waits d (or until ctx ends) and then fails with err.
func failing(err error, d time.Duration) playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		select {
		case <-time.After(d):
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

// blocking waits until its context ends and returns the context's error.
func blocking(called *atomic.Int32) playbook.Enricher {
	return playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
		if called != nil {
			called.Add(1)
		}
		<-ctx.Done()
		return ctx.Err()
	})
}

func mustParallel(t *testing.T, opts enrich.Options, specs ...enrich.Spec) *enrich.Group {
	t.Helper()
	g, err := enrich.Parallel(opts, specs...)
	require.NoError(t, err)
	return g
}

func TestParallelRunsConcurrently(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		limit      int
		wantTime   time.Duration
		wantActive int32
	}{
		{"unlimited", 0, 50 * time.Millisecond, 5},
		{"limit above count", 10, 50 * time.Millisecond, 5},
		{"limit equal to count", 5, 50 * time.Millisecond, 5},
		{"limit 2", 2, 150 * time.Millisecond, 2},
		{"limit 1 is sequential", 1, 250 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var active, maxActive atomic.Int32
				sleeper := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
					n := active.Add(1)
					for {
						m := maxActive.Load()
						if n <= m || maxActive.CompareAndSwap(m, n) {
							break
						}
					}
					time.Sleep(50 * time.Millisecond)
					active.Add(-1)
					return nil
				})
				var specs []enrich.Spec
				for i := range 5 {
					specs = append(specs, enrich.Required(string(rune('a'+i)), sleeper, time.Second))
				}
				g := mustParallel(t, enrich.Options{MaxConcurrent: tt.limit}, specs...)

				start := time.Now()
				require.NoError(t, g.Enrich(t.Context(), newCase()))
				assert.Equal(t, tt.wantTime, time.Since(start), "elapsed")
				assert.Equal(t, tt.wantActive, maxActive.Load(), "most enrichers running at once")
			})
		})
	}
}

func TestTimeoutCutsEnricherAtItsDeadline(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		required bool
		timeout  time.Duration
		want     time.Duration
	}{
		{"optional", false, 2 * time.Second, 2 * time.Second},
		{"required", true, 2 * time.Second, 2 * time.Second},
		{"zero timeout means DefaultTimeout", false, 0, enrich.DefaultTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				causes := make(chan error, 1)
				slow := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
					<-ctx.Done()
					causes <- context.Cause(ctx)
					return ctx.Err()
				})
				spec := enrich.Spec{Name: "slow", Enricher: slow, Required: tt.required, Timeout: tt.timeout}
				g := mustParallel(t, enrich.Options{},
					spec, enrich.Optional("fast", tagger("fast", time.Millisecond), 0))
				c := newCase()

				start := time.Now()
				err := g.Enrich(t.Context(), c)
				assert.Equal(t, tt.want, time.Since(start), "elapsed (cut at exactly the timeout)")

				wantMsg := `enricher "slow" timed out after ` + tt.want.String()
				var te *enrich.TimeoutError
				require.ErrorAs(t, <-causes, &te) // the enricher's context names the timeout as its cause
				assert.Equal(t, tt.want, te.Timeout, "cause timeout")
				assert.Equal(t, []playbook.EnrichmentFailure{{Enricher: "slow", Error: wantMsg, Required: tt.required}}, c.Facts.Failures, "failures")
				assert.Equal(t, []string{"fast"}, c.Facts.Tags, "tags")
				if !tt.required {
					require.NoError(t, err)
					return
				}
				var ee *enrich.Error
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, "slow", ee.Enricher, "Error.Enricher")
				require.ErrorAs(t, err, &te)
				assert.Equal(t, "slow", te.Enricher, "TimeoutError.Enricher")
				assert.ErrorIs(t, err, context.DeadlineExceeded)
				require.ErrorContains(t, err, wantMsg)
			})
		})
	}
}

func TestTimeoutWinsOverErrorReturnedAtDeadline(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// When its deadline passes, this enricher returns an error that
		// does not wrap the context's. Whichever the combinator sees
		// first, the deadline or the error, the failure is the timeout;
		// the loop makes both orders occur.
		hangup := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
			<-ctx.Done()
			return errors.New("connection closed")
		})
		g := mustParallel(t, enrich.Options{}, enrich.Optional("hangup", hangup, time.Second))
		for i := range 1000 {
			c := newCase()
			require.NoError(t, g.Enrich(t.Context(), c))
			want := []playbook.EnrichmentFailure{{Enricher: "hangup", Error: `enricher "hangup" timed out after 1s`}}
			if !reflect.DeepEqual(c.Facts.Failures, want) {
				t.Fatalf("run %d: failures = %+v, want %+v", i, c.Facts.Failures, want)
			}
		}
	})
}

func TestTimeoutAbandonsEnricherThatIgnoresContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		finished := make(chan struct{})
		stubborn := playbook.EnricherFunc(func(ctx context.Context, c *playbook.Case) error {
			defer close(finished)
			time.Sleep(time.Hour)
			return nil
		})
		g := mustParallel(t, enrich.Options{MaxConcurrent: 1},
			enrich.Optional("stubborn", stubborn, time.Second),
			enrich.Optional("next", tagger("next", time.Second), 0))
		c := newCase()

		start := time.Now()
		require.NoError(t, g.Enrich(t.Context(), c))
		assert.Equal(t, 2*time.Second, time.Since(start), "elapsed (the stubborn enricher's slot is freed at its timeout)")
		assert.Equal(t, []string{"next"}, c.Facts.Tags, "tags")
		assert.Equal(t, []playbook.EnrichmentFailure{
			{Enricher: "stubborn", Error: `enricher "stubborn" timed out after 1s`},
		}, c.Facts.Failures, "failures")
		<-finished
	})
}

func TestFailuresOptionalAndRequired(t *testing.T) {
	t.Parallel()
	errOther := errors.New("other")
	tests := []struct {
		name         string
		specs        []enrich.Spec
		wantFailures []playbook.EnrichmentFailure
		wantErrs     []string // required enrichers named by the returned error
		wantTags     []string
	}{
		{
			name: "all succeed",
			specs: []enrich.Spec{
				enrich.Required("a", tagger("a", time.Millisecond), 0),
				enrich.Optional("b", tagger("b", 2*time.Millisecond), 0),
			},
			wantTags: []string{"a", "b"},
		},
		{
			name: "optional failure is recorded and the others go on",
			specs: []enrich.Spec{
				enrich.Optional("signins", failing(errBoom, time.Millisecond), 0),
				enrich.Required("profile", tagger("profile", time.Second), 0),
			},
			wantFailures: []playbook.EnrichmentFailure{{Enricher: "signins", Error: "boom"}},
			wantTags:     []string{"profile"},
		},
		{
			name: "required failure is returned after slower siblings finished",
			specs: []enrich.Spec{
				enrich.Required("profile", failing(errBoom, time.Millisecond), 0),
				enrich.Optional("groups", tagger("groups", time.Second), 0),
			},
			wantFailures: []playbook.EnrichmentFailure{{Enricher: "profile", Error: "boom", Required: true}},
			wantErrs:     []string{"profile"},
			wantTags:     []string{"groups"},
		},
		{
			name: "every required failure is returned, failures in spec order",
			specs: []enrich.Spec{
				enrich.Required("late", failing(errOther, time.Second), 0),
				enrich.Optional("opt", failing(errBoom, 2*time.Millisecond), 0),
				enrich.Required("early", failing(errBoom, time.Millisecond), 0),
			},
			wantFailures: []playbook.EnrichmentFailure{
				{Enricher: "late", Error: "other", Required: true},
				{Enricher: "opt", Error: "boom"},
				{Enricher: "early", Error: "boom", Required: true},
			},
			wantErrs: []string{"late", "early"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := mustParallel(t, enrich.Options{}, tt.specs...)
				c := newCase()
				err := g.Enrich(t.Context(), c)

				assert.Equal(t, tt.wantFailures, c.Facts.Failures, "failures")
				slices.Sort(c.Facts.Tags)
				assert.Equal(t, tt.wantTags, c.Facts.Tags, "tags")
				if len(tt.wantErrs) == 0 {
					require.NoError(t, err)
					return
				}
				var ee *enrich.Error
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, tt.wantErrs[0], ee.Enricher, "errors.As finds the first required failure")
				for _, name := range tt.wantErrs {
					require.ErrorContains(t, err, `required enricher "`+name+`" failed`)
				}
				if strings.Contains(err.Error(), `"opt"`) {
					t.Errorf("error %q names an optional enricher", err)
				}
			})
		})
	}
}

func TestFailureWrapsCause(t *testing.T) {
	t.Parallel()
	g := mustParallel(t, enrich.Options{},
		enrich.Required("profile", playbook.EnricherFunc(func(context.Context, *playbook.Case) error {
			return &playbook.ProviderError{Provider: "fake", Op: "get-user", Err: playbook.ErrNotFound}
		}), 0))
	err := g.Enrich(t.Context(), newCase())
	assert.ErrorIs(t, err, playbook.ErrNotFound)
	var pe *playbook.ProviderError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "fake", pe.Provider, "provider")
	assert.Equal(t, playbook.ClassPermanent, playbook.Classify(err), "class")
}

func TestPanicIsRecovered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		required bool
		value    any
		wantMsg  string
	}{
		{"optional", false, "kaboom", "panic in enrich explode: kaboom"},
		{"required", true, "kaboom", "panic in enrich explode: kaboom"},
		{"required error value", true, errBoom, "panic in enrich explode: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				explode := playbook.EnricherFunc(func(context.Context, *playbook.Case) error { panic(tt.value) })
				g := mustParallel(t, enrich.Options{},
					enrich.Spec{Name: "explode", Enricher: explode, Required: tt.required},
					enrich.Optional("ok", tagger("ok", time.Second), 0))
				c := newCase()
				err := g.Enrich(t.Context(), c)

				assert.Equal(t, []playbook.EnrichmentFailure{{Enricher: "explode", Error: tt.wantMsg, Required: tt.required}}, c.Facts.Failures, "failures")
				assert.Equal(t, []string{"ok"}, c.Facts.Tags, "tags (a panic does not stop the others)")
				if !tt.required {
					require.NoError(t, err)
					return
				}
				var pe *playbook.PanicError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "enrich explode", pe.Stage, "Stage")
				assert.Equal(t, tt.value, pe.Value, "Value")
				assert.Contains(t, string(pe.Stack), "enrich_test.TestPanicIsRecovered", "Stack")
				var ee *enrich.Error
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, "explode", ee.Enricher, "Error.Enricher")
			})
		})
	}
}

func TestGoexitIsAFailure(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		quit := playbook.EnricherFunc(func(context.Context, *playbook.Case) error {
			runtime.Goexit()
			return nil
		})
		g := mustParallel(t, enrich.Options{}, enrich.Required("quit", quit, time.Second))
		start := time.Now()
		err := g.Enrich(t.Context(), newCase())
		require.ErrorContains(t, err, "runtime.Goexit")
		assert.Equal(t, time.Duration(0), time.Since(start), "elapsed (reported at once, not at the timeout)")
	})
}

func TestContextCancellation(t *testing.T) {
	t.Parallel()

	t.Run("already cancelled runs nothing", func(t *testing.T) {
		t.Parallel()
		var called atomic.Int32
		g := mustParallel(t, enrich.Options{}, enrich.Required("a", blocking(&called), 0))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		c := newCase()
		err := g.Enrich(ctx, c)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, int32(0), called.Load(), "enrichers called")
		assert.Empty(t, c.Facts.Failures, "failures")
	})

	t.Run("cancelled mid-run returns promptly without recording", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var called atomic.Int32
			g := mustParallel(t, enrich.Options{MaxConcurrent: 2},
				enrich.Required("a", blocking(&called), 0),
				enrich.Optional("b", blocking(&called), 0),
				enrich.Required("never-started", blocking(&called), 0))
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			c := newCase()

			start := time.Now()
			err := g.Enrich(ctx, c)
			assert.Equal(t, time.Second, time.Since(start), "elapsed")
			assert.ErrorIs(t, err, context.DeadlineExceeded)
			if _, ok := errors.AsType[*enrich.Error](err); ok {
				t.Errorf("error %v holds an *enrich.Error; cancellation is not a required enricher's failure", err)
			}
			assert.Equal(t, int32(2), called.Load(), "enrichers called (none starts after ctx ended)")
			assert.Empty(t, c.Facts.Failures, "failures")
		})
	})

	t.Run("failures that happened before the cancellation are recorded", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			g := mustParallel(t, enrich.Options{},
				enrich.Required("req", failing(errBoom, time.Millisecond), 0),
				enrich.Optional("wait", blocking(nil), 0))
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(time.Second, cancel)
			c := newCase()
			err := g.Enrich(ctx, c)
			assert.ErrorIs(t, err, context.Canceled)
			var ee *enrich.Error
			require.ErrorAs(t, err, &ee)
			assert.Equal(t, "req", ee.Enricher, "Error.Enricher")
			assert.Equal(t, []playbook.EnrichmentFailure{{Enricher: "req", Error: "boom", Required: true}}, c.Facts.Failures, "failures")
		})
	})
}

func TestNestedGroups(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		innerRequired bool
		wantFailures  []playbook.EnrichmentFailure
		wantOuterErr  bool
	}{
		{
			name: "optional inner group",
			wantFailures: []playbook.EnrichmentFailure{
				{Enricher: "a", Error: "boom", Required: true},
				{Enricher: "inner", Error: `enrich: required enricher "a" failed: boom`},
			},
		},
		{
			name:          "required inner group",
			innerRequired: true,
			wantFailures: []playbook.EnrichmentFailure{
				{Enricher: "a", Error: "boom", Required: true},
				{Enricher: "inner", Error: `enrich: required enricher "a" failed: boom`, Required: true},
			},
			wantOuterErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				inner := mustParallel(t, enrich.Options{},
					enrich.Required("a", failing(errBoom, time.Millisecond), 0),
					enrich.Optional("b", tagger("b", 10*time.Millisecond), 0))
				outer := mustParallel(t, enrich.Options{},
					enrich.Spec{Name: "inner", Enricher: inner, Required: tt.innerRequired},
					enrich.Optional("c", tagger("c", 20*time.Millisecond), 0))
				c := newCase()

				start := time.Now()
				err := outer.Enrich(t.Context(), c)
				assert.Equal(t, 20*time.Millisecond, time.Since(start), "elapsed (inner and outer enrichers overlap)")
				assert.Equal(t, tt.wantFailures, c.Facts.Failures, "failures")
				slices.Sort(c.Facts.Tags)
				assert.Equal(t, []string{"b", "c"}, c.Facts.Tags, "tags")
				if !tt.wantOuterErr {
					require.NoError(t, err)
					return
				}
				var outerErr, innerErr *enrich.Error
				require.ErrorAs(t, err, &outerErr)
				assert.Equal(t, "inner", outerErr.Enricher, "outer Error.Enricher")
				require.ErrorAs(t, outerErr.Err, &innerErr)
				assert.Equal(t, "a", innerErr.Enricher, "inner Error.Enricher")
				assert.ErrorIs(t, err, errBoom)
			})
		})
	}
}

func TestParallelRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	ok := tagger("x", 0)
	tests := []struct {
		name  string
		opts  enrich.Options
		specs []enrich.Spec
		want  string
	}{
		{"negative MaxConcurrent", enrich.Options{MaxConcurrent: -1}, nil, "Options.MaxConcurrent is negative (-1)"},
		{"empty name", enrich.Options{}, []enrich.Spec{enrich.Optional("a", ok, 0), {Enricher: ok}}, "specs[1].Name is empty"},
		{"nil enricher", enrich.Options{}, []enrich.Spec{enrich.Required("profile", nil, 0)}, `specs[0] ("profile"): Enricher is nil`},
		{"negative timeout", enrich.Options{}, []enrich.Spec{enrich.Optional("a", ok, -time.Second)}, `specs[0] ("a"): Timeout is negative (-1s)`},
		{"duplicate name", enrich.Options{}, []enrich.Spec{enrich.Optional("a", ok, 0), enrich.Optional("b", ok, 0), enrich.Required("a", ok, 0)}, `specs[0] and specs[2] are both named "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, err := enrich.Parallel(tt.opts, tt.specs...)
			if g != nil {
				t.Errorf("Parallel returned a group with error %v", err)
			}
			assert.ErrorIs(t, err, enrich.ErrInvalidSpec)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestEmptyGroupAndNilCase(t *testing.T) {
	t.Parallel()
	g := mustParallel(t, enrich.Options{})
	c := newCase()
	require.NoError(t, g.Enrich(t.Context(), c))
	assert.Empty(t, c.Facts.Failures, "failures")
	require.ErrorContains(t, g.Enrich(t.Context(), nil), "nil case")
}

func TestGroupIsSafeForConcurrentRuns(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		g := mustParallel(t, enrich.Options{MaxConcurrent: 1},
			enrich.Optional("a", tagger("a", time.Millisecond), 0),
			enrich.Optional("b", tagger("b", time.Millisecond), 0))
		cases := make([]*playbook.Case, 8)
		done := make(chan struct{})
		start := time.Now()
		for i := range cases {
			cases[i] = newCase()
			go func() {
				defer func() { done <- struct{}{} }()
				if err := g.Enrich(t.Context(), cases[i]); err != nil {
					t.Errorf("run %d: %v", i, err)
				}
			}()
		}
		for range cases {
			<-done
		}
		assert.Equal(t, 2*time.Millisecond, time.Since(start), "elapsed (the limit applies per run, not across runs)")
		for _, c := range cases {
			assert.Equal(t, []string{"a", "b"}, c.Facts.Tags, "tags")
		}
	})
}
