package fake_test

import (
	"context"
	"errors"
	"math"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/fake"
)

// failures returns, for n enrichments of alice, which ones failed.
func failures(t *testing.T, p *fake.Provider, n int) []bool {
	t.Helper()
	e := p.ProfileEnricher()
	out := make([]bool, n)
	for i := range out {
		err := e.Enrich(t.Context(), playbook.NewCase("r", playbook.Event{Subject: p.Subject("alice")}))
		if err != nil && !errors.Is(err, playbook.ErrUnavailable) {
			t.Fatalf("call %d: %v, want nil or ErrUnavailable", i, err)
		}
		out[i] = err != nil
	}
	return out
}

func TestErrorRateIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func(seed uint64) []bool {
		p := fake.New(fake.WithSeed(seed))
		require.NoError(t, p.AddUser(fake.User{ID: "alice"}))
		require.NoError(t, p.SetFaults(fake.OpGetUser, fake.Faults{ErrorRate: 0.3}))
		return failures(t, p, 200)
	}
	a, b, c := run(7), run(7), run(8)
	count := 0
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 7 failed differently at call %d", i)
		}
		if a[i] {
			count++
		}
	}
	if count < 30 || count > 90 {
		t.Errorf("%d of 200 calls failed at rate 0.3", count)
	}
	same := true
	for i := range a {
		same = same && a[i] == c[i]
	}
	if same {
		t.Error("seeds 7 and 8 failed the same calls")
	}
}

func TestErrorRateBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		rate float64
		want bool
	}{{0, false}, {1, true}} {
		p := fake.New()
		require.NoError(t, p.AddUser(fake.User{ID: "alice"}))
		require.NoError(t, p.SetFaults(fake.AnyOp, fake.Faults{ErrorRate: tc.rate}))
		for i, failed := range failures(t, p, 50) {
			if failed != tc.want {
				t.Fatalf("rate %v: call %d failed = %v", tc.rate, i, failed)
			}
		}
	}
}

func TestFaults(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(p *fake.Provider) error
		want   []error // per call of disable-user on alice (nil: success)
		status int
		retry  time.Duration
	}{
		{"permission denied", func(p *fake.Provider) error {
			return p.SetFaults(playbook.ActionDisableUser, fake.Faults{PermissionDenied: true})
		}, []error{playbook.ErrPermissionDenied, playbook.ErrPermissionDenied}, http.StatusForbidden, 0},
		{"not found", func(p *fake.Provider) error {
			return p.SetFaults(fake.AnyOp, fake.Faults{NotFound: true})
		}, []error{playbook.ErrNotFound}, http.StatusNotFound, 0},
		{"throttle twice", func(p *fake.Provider) error {
			return p.SetFaults(playbook.ActionDisableUser, fake.Faults{Throttle: 2, RetryAfter: 3 * time.Second})
		}, []error{playbook.ErrThrottled, playbook.ErrThrottled, nil}, http.StatusTooManyRequests, 3 * time.Second},
		{"throttle default delay", func(p *fake.Provider) error {
			return p.Throttle(playbook.ActionDisableUser, 0, 1)
		}, []error{playbook.ErrThrottled, nil}, http.StatusTooManyRequests, fake.DefaultRetryAfter},
		{"scripted in order", func(p *fake.Provider) error {
			return errors.Join(
				p.Fail(playbook.ActionDisableUser, playbook.ErrUnavailable, 2),
				p.Fail(fake.AnyOp, playbook.ErrConflict, 1),
			)
		}, []error{playbook.ErrUnavailable, playbook.ErrUnavailable, playbook.ErrConflict, nil}, 0, 0},
		{"scripted before persistent", func(p *fake.Provider) error {
			return errors.Join(
				p.SetFaults(playbook.ActionDisableUser, fake.Faults{Throttle: 1}),
				p.Fail(playbook.ActionDisableUser, playbook.ErrUnavailable, 1),
			)
		}, []error{playbook.ErrUnavailable, playbook.ErrThrottled, nil}, 0, 0},
		{"other op untouched", func(p *fake.Provider) error {
			return p.Fail(playbook.ActionRevokeSessions, playbook.ErrUnavailable, 1)
		}, []error{nil}, 0, 0},
		{"plan has its own op", func(p *fake.Provider) error {
			return p.Fail(fake.PlanOp(playbook.ActionDisableUser), playbook.ErrUnavailable, 1)
		}, []error{nil}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := seeded(t)
			require.NoError(t, tc.setup(p))
			a, _ := p.Action(playbook.ActionDisableUser)
			for i, want := range tc.want {
				r := req(p, "alice", "k", nil)
				r.Attempt = i + 1
				_, err := a.Execute(t.Context(), r)
				if want == nil {
					if err != nil {
						t.Fatalf("call %d: %v, want success", i, err)
					}
					continue
				}
				var pe *playbook.ProviderError
				if !errors.Is(err, want) || !errors.As(err, &pe) {
					t.Fatalf("call %d: %v, want a ProviderError wrapping %v", i, err, want)
				}
				if tc.status != 0 && pe.Status != tc.status {
					t.Errorf("call %d: status %d, want %d", i, pe.Status, tc.status)
				}
				d, _ := playbook.RetryAfter(err)
				switch {
				case !errors.Is(want, playbook.ErrThrottled) && d != 0:
					t.Errorf("call %d: RetryAfter = %s on a %v", i, d, want)
				case errors.Is(want, playbook.ErrThrottled) && (d <= 0 || tc.retry != 0 && d != tc.retry):
					t.Errorf("call %d: RetryAfter = %s, want %s", i, d, tc.retry)
				}
				if u, _ := p.User("alice"); u.Disabled {
					t.Fatalf("call %d failed but disabled alice", i)
				}
			}
		})
	}
}

func TestFailWrapsCanonicalErrors(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	custom := &playbook.ProviderError{Provider: "x", Op: "y", Status: 418, Err: playbook.ErrConflict}
	require.NoError(t, p.Fail(fake.OpGetUser, playbook.ErrUnauthenticated, 1))
	require.NoError(t, p.Fail(fake.OpGetUser, custom, 1))
	e := p.ProfileEnricher()
	c := playbook.NewCase("r", playbook.Event{Subject: p.Subject("alice")})
	err := e.Enrich(t.Context(), c)
	var pe *playbook.ProviderError
	if !errors.As(err, &pe) || pe.Status != http.StatusUnauthorized || pe.Op != fake.OpGetUser || pe.Provider != "fake" {
		t.Fatalf("err = %#v, want a fake get-user ProviderError with status 401", err)
	}
	if err := e.Enrich(t.Context(), c); err != custom {
		t.Fatalf("err = %v, want the scripted ProviderError unchanged", err)
	}
	if c.Snapshot().Profile != nil {
		t.Fatal("a failed enrichment filled the profile")
	}
}

func TestFaultValidation(t *testing.T) {
	t.Parallel()
	p := fake.New()
	for name, err := range map[string]error{
		"rate above 1":    p.SetFaults(fake.AnyOp, fake.Faults{ErrorRate: 1.5}),
		"rate NaN":        p.SetFaults(fake.AnyOp, fake.Faults{ErrorRate: math.NaN()}),
		"negative":        p.SetFaults(fake.AnyOp, fake.Faults{Throttle: -1}),
		"negative delay":  p.SetFaults(fake.AnyOp, fake.Faults{RetryAfter: -time.Second}),
		"negative wait":   p.SetFaults(fake.AnyOp, fake.Faults{Latency: -time.Second}),
		"empty op":        p.SetFaults("", fake.Faults{}),
		"fail nil":        p.Fail("x", nil, 1),
		"fail zero times": p.Fail("x", playbook.ErrUnavailable, 0),
		"fail empty op":   p.Fail("", playbook.ErrUnavailable, 1),
		"throttle neg":    p.Throttle("x", -time.Second, 1),
	} {
		if err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestClearFaults(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	require.NoError(t, p.SetFaults(fake.AnyOp, fake.Faults{PermissionDenied: true}))
	require.NoError(t, p.Fail(playbook.ActionDisableUser, playbook.ErrUnavailable, 5))
	p.ClearFaults()
	a, _ := p.Action(playbook.ActionDisableUser)
	if _, err := a.Execute(t.Context(), req(p, "alice", "k", nil)); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestLatency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := seeded(t)
		require.NoError(t, p.SetFaults(playbook.ActionDisableUser, fake.Faults{Latency: 5 * time.Second}))
		require.NoError(t, p.SetFaults(fake.AnyOp, fake.Faults{Latency: time.Second}))
		a, _ := p.Action(playbook.ActionDisableUser)
		start := time.Now()
		if _, err := a.Execute(t.Context(), req(p, "alice", "k", nil)); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 6*time.Second {
			t.Fatalf("the call took %s, want the op's 5s plus AnyOp's 1s", d)
		}
	})
}

func TestLatencyHonoursContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		p := seeded(t)
		require.NoError(t, p.SetFaults(fake.AnyOp, fake.Faults{Latency: time.Minute}))
		a, _ := p.Action(playbook.ActionDisableUser)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := a.Execute(ctx, req(p, "alice", "k", nil))
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want DeadlineExceeded", err)
		}
		if d := time.Since(start); d != 10*time.Second {
			t.Fatalf("returned after %s, want at the 10s deadline", d)
		}
		if u, _ := p.User("alice"); u.Disabled {
			t.Fatal("a call that timed out disabled alice")
		}
		if calls := p.Calls(); len(calls) != 1 || !errors.Is(calls[0].Err, context.DeadlineExceeded) || calls[0].Write {
			t.Fatalf("call log = %+v, want the one timed-out call", calls)
		}
	})
}

func TestCanceledContext(t *testing.T) {
	t.Parallel()
	p := seeded(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for name, a := range p.Actions() {
		if _, err := a.Execute(ctx, req(p, "alice", name, map[string]string{"role": "global-admin", "group": "g1"})); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want Canceled", name, err)
		}
	}
	for name, e := range p.Enrichers() {
		if err := e.Enrich(ctx, playbook.NewCase("r", playbook.Event{Subject: p.Subject("alice")})); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: err = %v, want Canceled", name, err)
		}
	}
	if n := p.WriteCount(fake.AnyOp); n != 0 {
		t.Fatalf("%d writes with a canceled context", n)
	}
}
