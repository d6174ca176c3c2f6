package cursortest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

// Case is one rule of the contract, checked on a fresh store.
type Case struct {
	// Name names the subtest.
	Name string
	// Rule is the sentence of the contract the case checks.
	Rule string
	// Check runs against a store newly made for the case.
	Check func(t *testing.T, s cursor.Store)
}

// Cases returns the conformance cases, in the order Run runs them.
func Cases() []Case { return cases }

// Run runs every case as a parallel subtest of t, each on a store that
// newStore makes for it. newStore must return an empty store, distinct
// from the ones it returned before (or at least sharing no keys with
// them), and may register cleanups on the t it is given.
func Run(t *testing.T, newStore func(t *testing.T) cursor.Store) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			t.Log(c.Rule)
			c.Check(t, newStore(t))
		})
	}
}

// mustGet reads key and fails the test on an error.
func mustGet(t *testing.T, s cursor.Store, key string) (string, bool) {
	t.Helper()
	v, ok, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v, ok
}

// mustPut stores value under key and fails the test on an error.
func mustPut(t *testing.T, s cursor.Store, key, value string) {
	t.Helper()
	if err := s.Put(t.Context(), key, value); err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
}

// wantValue fails the test unless key holds want.
func wantValue(t *testing.T, s cursor.Store, key, want string) {
	t.Helper()
	got, ok := mustGet(t, s, key)
	switch {
	case !ok:
		t.Errorf("Get(%q) reports nothing stored, want %q", key, short(want))
	case got != want:
		t.Errorf("Get(%q) = %q, want %q", key, short(got), short(want))
	}
}

func short(s string) string {
	if len(s) > 40 {
		return fmt.Sprintf("%s... (%d bytes)", s[:40], len(s))
	}
	return s
}

var cases = []Case{
	{
		Name: "missing_key",
		Rule: "Get of a key never stored reports ok=false, an empty value and no error.",
		Check: func(t *testing.T, s cursor.Store) {
			v, ok, err := s.Get(t.Context(), "never/stored")
			if err != nil || ok || v != "" {
				t.Errorf("Get of a missing key = (%q, %v, %v), want (\"\", false, nil)", v, ok, err)
			}
		},
	},
	{
		Name: "put_then_get",
		Rule: "A Get after Put returned sees the value.",
		Check: func(t *testing.T, s cursor.Store) {
			mustPut(t, s, "okta/example.okta.com/cursor", "https://example.okta.com/api/v1/logs?after=1")
			wantValue(t, s, "okta/example.okta.com/cursor", "https://example.okta.com/api/v1/logs?after=1")
		},
	},
	{
		Name: "put_replaces",
		Rule: "Put replaces the value stored under its key.",
		Check: func(t *testing.T, s cursor.Store) {
			mustPut(t, s, "k", "v1")
			mustPut(t, s, "k", "v2")
			wantValue(t, s, "k", "v2")
			mustPut(t, s, "k", "v1")
			wantValue(t, s, "k", "v1")
		},
	},
	{
		Name: "empty_value",
		Rule: "An empty value is stored: Get reports it with ok=true, unlike a missing key.",
		Check: func(t *testing.T, s cursor.Store) {
			mustPut(t, s, "k", "")
			v, ok := mustGet(t, s, "k")
			if !ok || v != "" {
				t.Errorf("Get after Put(\"\") = (%q, %v), want (\"\", true)", v, ok)
			}
		},
	},
	{
		Name: "keys_independent",
		Rule: "Keys are compared exactly: keys that differ by case, a slash, a trailing space or a byte each hold their own value.",
		Check: func(t *testing.T, s cursor.Store) {
			keys := []string{"", "k", "K", "k ", "k/", "k/../k", "entra/tenant-a/riskDetections", "entra/tenant-b/riskDetections",
				"ключ", "k\x00x", "k\nx", strings.Repeat("long", 64)}
			for i, k := range keys {
				mustPut(t, s, k, fmt.Sprintf("value-%d", i))
			}
			for i, k := range keys {
				wantValue(t, s, k, fmt.Sprintf("value-%d", i))
			}
			if _, ok := mustGet(t, s, "k/.."); ok {
				t.Errorf("Get(%q) reports a value that was never stored", "k/..")
			}
		},
	},
	{
		Name: "values_verbatim",
		Rule: "Values come back byte for byte: quotes, newlines, non-ASCII, NUL and 64 KiB alike.",
		Check: func(t *testing.T, s cursor.Store) {
			values := []string{`{"deltaLink":"https://graph.microsoft.com/v1.0/x?$deltatoken=a%2Fb"}`, "line1\nline2\r\n", "ünïcødé ✓",
				"nul\x00inside", " padded ", strings.Repeat("0123456789abcdef", 4096)}
			for i, v := range values {
				mustPut(t, s, fmt.Sprintf("v%d", i), v)
			}
			for i, v := range values {
				wantValue(t, s, fmt.Sprintf("v%d", i), v)
			}
		},
	},
	{
		Name: "done_context",
		Rule: "Get and Put with a done ctx return an error wrapping ctx.Err(), and such a Put stores nothing.",
		Check: func(t *testing.T, s cursor.Store) {
			mustPut(t, s, "k", "before")
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			if err := s.Put(ctx, "k", "after"); !errors.Is(err, context.Canceled) {
				t.Errorf("Put with a cancelled ctx = %v, want an error wrapping context.Canceled", err)
			}
			if err := s.Put(ctx, "other", "after"); !errors.Is(err, context.Canceled) {
				t.Errorf("Put of a new key with a cancelled ctx = %v, want an error wrapping context.Canceled", err)
			}
			if _, _, err := s.Get(ctx, "k"); !errors.Is(err, context.Canceled) {
				t.Errorf("Get with a cancelled ctx = %v, want an error wrapping context.Canceled", err)
			}
			wantValue(t, s, "k", "before")
			if _, ok := mustGet(t, s, "other"); ok {
				t.Errorf("a Put with a cancelled ctx stored a new key")
			}
		},
	},
	{
		Name: "concurrent_distinct_keys",
		Rule: "Concurrent Puts to distinct keys, among concurrent Gets, all take effect.",
		Check: func(t *testing.T, s cursor.Store) {
			const n = 16
			var wg sync.WaitGroup
			errs := make(chan error, 2*n)
			for i := range n {
				wg.Go(func() {
					if err := s.Put(t.Context(), fmt.Sprintf("poller-%d", i), fmt.Sprintf("cursor-%d", i)); err != nil {
						errs <- err
					}
				})
				wg.Go(func() {
					if _, _, err := s.Get(t.Context(), fmt.Sprintf("poller-%d", (i+1)%n)); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent call: %v", err)
			}
			for i := range n {
				wantValue(t, s, fmt.Sprintf("poller-%d", i), fmt.Sprintf("cursor-%d", i))
			}
		},
	},
	{
		Name: "concurrent_same_key",
		Rule: "Concurrent Puts to one key leave exactly one of their values, whole.",
		Check: func(t *testing.T, s cursor.Store) {
			const n = 16
			want := map[string]bool{}
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				v := strings.Repeat(fmt.Sprintf("%02d", i), 512)
				want[v] = true
				wg.Go(func() {
					if err := s.Put(t.Context(), "shared", v); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Errorf("concurrent Put: %v", err)
			}
			got, ok := mustGet(t, s, "shared")
			if !ok || !want[got] {
				t.Errorf("after concurrent Puts, Get = (%q, %v), want one of the values put", short(got), ok)
			}
		},
	},
}
