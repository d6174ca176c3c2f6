package entra_test

import (
	"errors"
	"net/http"
	"sort"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/contain"
	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/providers/entra"
	"github.com/iamplaybook/iamplaybook/providers/entra/entratest"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2.128", 2128 * time.Millisecond, true},
		{" 10 ", 10 * time.Second, true},
		{"0", 0, true},
		{"0.0000000001", time.Nanosecond, true},
		{"Wed, 21 Oct 2015 07:28:30 GMT", 30 * time.Second, true},
		{"Wed, 21 Oct 2015 07:00:00 GMT", 0, true},
		{"", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"soon", 0, false},
		{"1e12", 0, false},
	} {
		got, ok := entra.ParseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "ParseRetryAfter(%q)", tc.in)
		assert.Equal(t, tc.want, got, "ParseRetryAfter(%q)", tc.in)
	}
}

// TestGraphErrors checks the translation of Graph's statuses and error
// bodies into the canonical errors.
func TestGraphErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status     int
		code       string
		retryAfter string
		sentinel   error
		class      playbook.Class
		wantCode   string
		wantDelay  time.Duration
	}{
		{429, "", "2.128", playbook.ErrThrottled, playbook.ClassThrottled, "TooManyRequests", 2128 * time.Millisecond},
		{429, "", "", playbook.ErrThrottled, playbook.ClassThrottled, "TooManyRequests", 0},
		{503, "", "7", playbook.ErrUnavailable, playbook.ClassTransient, "serviceNotAvailable", 7 * time.Second},
		{500, "generalException", "", playbook.ErrUnavailable, playbook.ClassTransient, "generalException", 0},
		{403, "", "", playbook.ErrPermissionDenied, playbook.ClassPermanent, "Authorization_RequestDenied", 0},
		{404, "Request_ResourceNotFound", "", playbook.ErrNotFound, playbook.ClassPermanent, "Request_ResourceNotFound", 0},
		{400, "Request_BadRequest", "", playbook.ErrInvalidRequest, playbook.ClassPermanent, "Request_BadRequest", 0},
		{409, "conflict", "", playbook.ErrConflict, playbook.ClassPermanent, "conflict", 0},
		{501, "notSupported", "", playbook.ErrUnsupported, playbook.ClassPermanent, "notSupported", 0},
	} {
		t.Run(http.StatusText(tc.status)+"/"+tc.retryAfter, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			s := f.user(t, "ana@contoso.example", nil)
			f.emu.FailNext(entratest.Fault{Method: http.MethodGet, PathContains: "/users/", Status: tc.status, Code: tc.code, RetryAfter: tc.retryAfter})
			err := plan(t, f, s)
			require.ErrorIs(t, err, tc.sentinel)
			assert.Equal(t, tc.class, playbook.Classify(err))
			var pe *playbook.ProviderError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, entra.ProviderName, pe.Provider)
			assert.Equal(t, tc.status, pe.Status)
			assert.Equal(t, tc.wantCode, pe.Code)
			assert.Equal(t, tc.wantDelay, pe.RetryAfter)
			require.NoError(t, plan(t, f, s), "the fault was used up")
		})
	}
}

// TestRetryAfterHonoured runs disable-user under contain.Retry against
// Graph throttling with a fractional Retry-After: no request is sent before
// the delay has passed.
func TestRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		s := f.user(t, "ana@contoso.example", nil)
		a := contain.Retry(f.action(t, playbook.ActionDisableUser), contain.RetryPolicy{InitialInterval: time.Millisecond, MaxAttempts: 5})
		f.emu.FailNext(entratest.Fault{Method: http.MethodPatch, PathContains: "/users/", Status: 429, RetryAfter: "2.128", Times: 2})
		res, err := a.Execute(t.Context(), req(s, "k", nil))
		require.NoError(t, err)
		assert.Equal(t, playbook.StatusApplied, res.Status)
		patches := requestsTo(f.emu, http.MethodPatch, "/users/")
		require.Len(t, patches, 3)
		for i := 1; i < len(patches); i++ {
			gap := patches[i].Time.Sub(patches[i-1].Time)
			assert.GreaterOrEqual(t, gap, 2128*time.Millisecond, "request %d came %s after a 429 with Retry-After 2.128", i, gap)
		}
		u, _ := f.emu.User(s.ID)
		assert.True(t, u.Disabled)
	})
}

// TestLimiterUnderConcurrency checks that concurrent waiters are let
// through one per interval.
func TestLimiterUnderConcurrency(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := entra.NewLimiter(time.Second)
		start := time.Now()
		var (
			mu    sync.Mutex
			times []time.Duration
			wg    sync.WaitGroup
		)
		for range 10 {
			wg.Go(func() {
				if err := l.Wait(t.Context()); err != nil {
					t.Error(err)
				}
				mu.Lock()
				times = append(times, time.Since(start))
				mu.Unlock()
			})
		}
		wg.Wait()
		sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
		for i, d := range times {
			assert.Equal(t, time.Duration(i)*time.Second, d, "waiter %d", i)
		}
	})
}

func TestLimiterCancelled(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		l := entra.NewLimiter(time.Minute)
		require.NoError(t, l.Wait(t.Context()))
		ctx, cancel := contextWithTimeout(t, time.Second)
		defer cancel()
		err := l.Wait(ctx)
		require.ErrorIs(t, err, errDeadline)
	})
	assert.Panics(t, func() { entra.NewLimiter(0) })
}

// TestIdentityProtectionPacing runs risk enrichment for several users at
// once: the client's limiter spaces the Identity Protection calls a second
// apart, so the emulator (which throttles the tenant above 1 rps) never
// answers 429. Without the limiter, the second call is throttled, and the
// 429 carries no Retry-After.
func TestIdentityProtectionPacing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, nil)
		var subjects []playbook.Subject
		for _, n := range []string{"a", "b", "c", "d", "e"} {
			subjects = append(subjects, f.user(t, n+"@contoso.example", nil))
		}
		var wg sync.WaitGroup
		for _, s := range subjects {
			wg.Go(func() {
				c := playbook.NewCase("r", playbook.Event{Subject: s})
				if err := f.c.RiskEnricher().Enrich(t.Context(), c); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		ip := requestsTo(f.emu, http.MethodGet, "/identityProtection/")
		require.Len(t, ip, len(subjects))
		for i := 1; i < len(ip); i++ {
			assert.GreaterOrEqual(t, ip[i].Time.Sub(ip[i-1].Time), time.Second)
			assert.Equal(t, http.StatusNotFound, ip[i].Status, "not throttled")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t, func(c *entra.Config) { c.IdentityProtectionLimiter = entra.NewLimiter(time.Nanosecond) })
		s := f.user(t, "a@contoso.example", nil)
		enrich := func() error {
			return f.c.RiskEnricher().Enrich(t.Context(), playbook.NewCase("r", playbook.Event{Subject: s}))
		}
		require.NoError(t, enrich())
		err := enrich()
		require.ErrorIs(t, err, playbook.ErrThrottled)
		_, ok := playbook.RetryAfter(err)
		assert.False(t, ok, "Identity Protection sends no Retry-After")
		var pe *playbook.ProviderError
		require.True(t, errors.As(err, &pe))
		assert.Equal(t, "TooManyRequests", pe.Code)
	})
}
