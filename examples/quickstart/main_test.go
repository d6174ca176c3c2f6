package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/audit"
)

// TestQuickstart runs the whole program: every scenario must end as the
// README says, and the audit file it leaves must verify.
func TestQuickstart(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var out bytes.Buffer
	require.NoError(t, run(t.Context(), &out, path, false), out.String())
	assert.Contains(t, out.String(), "All runs ended as expected.")
	assert.Contains(t, out.String(), "3 contained, 3 waiting for approval")

	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	report, err := audit.Verify(f, audit.VerifyOptions{})
	require.NoError(t, err)
	assert.Greater(t, report.Records, uint64(50))
}
