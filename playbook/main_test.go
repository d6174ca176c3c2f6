package playbook_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: a
// runner that has returned from Run leaves nothing running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
