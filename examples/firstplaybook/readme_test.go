package main

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeQuotesThisCode keeps the README honest: the Build function and
// the test it shows must be the code in this package, letter for letter.
func TestReadmeQuotesThisCode(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for file, fn := range map[string]string{"main.go": "func Build(", "main_test.go": "func TestRiskySignIn("} {
		src, err := os.ReadFile(file)
		require.NoError(t, err)
		body := function(t, string(src), fn)
		require.Contains(t, string(readme), body, "README.md must quote %s from %s as it is", fn, file)
	}
}

// function returns the source of the top-level function starting with
// prefix, up to its closing brace at column 0.
func function(t *testing.T, src, prefix string) string {
	t.Helper()
	i := strings.Index(src, "\n"+prefix)
	require.GreaterOrEqual(t, i, 0, "%s not found", prefix)
	rest := src[i+1:]
	j := strings.Index(rest, "\n}\n")
	require.GreaterOrEqual(t, j, 0, "end of %s not found", prefix)
	return rest[:j+2]
}
