package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/iamplaybook/iamplaybook/playbook"
	"github.com/iamplaybook/iamplaybook/store/sqlite"
	"github.com/iamplaybook/iamplaybook/store/storetest"
)

// open opens a store on a new file in a test directory and closes it when
// the test ends.
func open(t *testing.T, o sqlite.Options) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "runs.db")
	return openAt(t, path, o), path
}

func openAt(t *testing.T, path string, o sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, o)
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opt  sqlite.Options
	}{
		{"default", sqlite.Options{}},
		{"normal-durability-no-batching", sqlite.Options{Durability: sqlite.DurabilityNormal, MaxBatch: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			storetest.Run(t, func(t *testing.T) playbook.Store {
				s, _ := open(t, tc.opt)
				return s
			})
		})
	}
}
