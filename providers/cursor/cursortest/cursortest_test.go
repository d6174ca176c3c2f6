package cursortest_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/cursor/cursortest"
)

// brokenEnv names, in the child process, the broken store to test.
const brokenEnv = "CURSORTEST_BROKEN_STORE"

// broken is a store that gets one rule of the contract wrong, selected by
// its name.
type broken struct {
	how  string
	mu   sync.Mutex
	m    map[string]string
	pair chan struct{} // pairs two concurrent Puts
}

func newBroken(how string) *broken {
	return &broken{how: how, m: map[string]string{}, pair: make(chan struct{})}
}

// rendezvous blocks until another Put reaches it too.
func (b *broken) rendezvous() {
	select {
	case b.pair <- struct{}{}:
	case <-b.pair:
	}
}

func (b *broken) Get(ctx context.Context, key string) (string, bool, error) {
	if b.how != "ignores_ctx" {
		if err := ctx.Err(); err != nil {
			return "", false, err
		}
	}
	if b.how == "folds_keys" {
		key = strings.ToLower(strings.TrimSpace(key))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	v, ok := b.m[key]
	switch b.how {
	case "phantom_missing":
		return v, true, nil
	case "empty_is_missing":
		return v, ok && v != "", nil
	}
	return v, ok, nil
}

func (b *broken) Put(ctx context.Context, key, value string) error {
	if b.how != "ignores_ctx" {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	switch b.how {
	case "forgets":
		return nil
	case "folds_keys":
		key = strings.ToLower(strings.TrimSpace(key))
	case "truncates":
		value = strings.TrimSpace(value)
		if len(value) > 1024 {
			value = value[:1024]
		}
	case "lost_update":
		// Read-modify-write of the whole map without holding the lock.
		b.mu.Lock()
		next := make(map[string]string, len(b.m)+1)
		for k, v := range b.m {
			next[k] = v
		}
		b.mu.Unlock()
		b.rendezvous()
		next[key] = value
		b.mu.Lock()
		b.m = next
		b.mu.Unlock()
		return nil
	case "tears":
		// Writes the value in two halves.
		b.mu.Lock()
		b.m[key] = value[:len(value)/2]
		b.mu.Unlock()
		b.rendezvous()
		b.mu.Lock()
		b.m[key] += value[len(value)/2:]
		b.mu.Unlock()
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.m[key]; ok && b.how == "first_wins" {
		return nil
	}
	b.m[key] = value
	return nil
}

// TestBrokenStoreChild runs the suite on the store named by brokenEnv; it
// runs only as the child process of TestSuiteCatchesBrokenStores.
func TestBrokenStoreChild(t *testing.T) {
	how := os.Getenv(brokenEnv)
	if how == "" {
		t.Skip("runs only as a child of TestSuiteCatchesBrokenStores")
	}
	cursortest.Run(t, func(*testing.T) cursor.Store {
		if how == "correct" {
			return &cursor.Memory{}
		}
		return newBroken(how)
	})
}

// Every case of the suite fails on a store that breaks the rule it
// checks, and passes on a correct one: no case is vacuous.
func TestSuiteCatchesBrokenStores(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	require.NoError(t, err)
	breaks := map[string]string{
		"missing_key":              "phantom_missing",
		"put_then_get":             "forgets",
		"put_replaces":             "first_wins",
		"empty_value":              "empty_is_missing",
		"keys_independent":         "folds_keys",
		"values_verbatim":          "truncates",
		"done_context":             "ignores_ctx",
		"concurrent_distinct_keys": "lost_update",
		"concurrent_same_key":      "tears",
	}
	for _, c := range cursortest.Cases() {
		how, ok := breaks[c.Name]
		require.True(t, ok, "case %s has no broken store proving it can fail", c.Name)
		require.NotEmpty(t, c.Rule, "case %s states its rule", c.Name)
		for _, store := range []string{how, "correct"} {
			t.Run(c.Name+"/"+store, func(t *testing.T) {
				t.Parallel()
				cmd := exec.CommandContext(t.Context(), exe, "-test.run=^TestBrokenStoreChild$/^"+c.Name+"$", "-test.v", "-test.count=1")
				cmd.Env = append(os.Environ(), brokenEnv+"="+store)
				cmd.Dir = filepath.Dir(exe)
				out, err := cmd.CombinedOutput()
				if store == "correct" {
					require.NoError(t, err, "the case fails on a correct store:\n%s", out)
					assert.Contains(t, string(out), "--- PASS: TestBrokenStoreChild/"+c.Name)
					return
				}
				require.Error(t, err, "the case passed on a store that breaks its rule:\n%s", out)
				assert.Contains(t, string(out), "--- FAIL: TestBrokenStoreChild/"+c.Name, "the failure is this case's")
			})
		}
	}
}
