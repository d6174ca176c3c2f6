package cursortest_test

import (
	"testing"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
	"github.com/iamplaybook/iamplaybook/providers/cursor/cursortest"
)

// The implementations of this module pass the suite; a host's own Store
// is checked the same way.
func TestConformance(t *testing.T) {
	t.Parallel()
	t.Run("Memory", func(t *testing.T) {
		t.Parallel()
		cursortest.Run(t, func(*testing.T) cursor.Store { return &cursor.Memory{} })
	})
	t.Run("File", func(t *testing.T) {
		t.Parallel()
		cursortest.Run(t, func(t *testing.T) cursor.Store {
			s, err := cursor.OpenFile(t.TempDir() + "/state.json")
			if err != nil {
				t.Fatal(err)
			}
			return s
		})
	})
}
