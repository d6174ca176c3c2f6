package cursor_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/iamplaybook/iamplaybook/providers/cursor"
)

func TestFileSurvivesReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "pollers.json")
	s, err := cursor.OpenFile(path)
	require.NoError(t, err, "a missing file and directory start empty")
	require.NoError(t, s.Put(t.Context(), "k", "v1"))
	require.NoError(t, s.Put(t.Context(), "k", "v2"))
	require.NoError(t, s.Put(t.Context(), "other", ""))
	assert.Equal(t, path, s.Path())

	again, err := cursor.OpenFile(path)
	require.NoError(t, err)
	v, ok, err := again.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "v2", v, "the last Put is what a restarted process reads")
	_, ok, _ = again.Get(t.Context(), "other")
	assert.True(t, ok, "an empty value survives too")

	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left behind")
	if runtime.GOOS != "windows" {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file is readable by its owner only")
		di, err := os.Stat(filepath.Dir(path))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), di.Mode().Perm(), "a created directory is its owner's only")
	}
}

func TestOpenFileRefusesBadFiles(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		content string
	}{
		{"not json", "not json"},
		{"truncated", `{"k": "v`},
		{"array", `["k", "v"]`},
		{"non-string value", `{"k": 1}`},
		{"null", `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pollers.json")
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, err := cursor.OpenFile(path)
			require.ErrorIs(t, err, cursor.ErrCorrupt)
			assert.ErrorContains(t, err, path, "the error names the file")
			got, rerr := os.ReadFile(path)
			require.NoError(t, rerr)
			assert.Equal(t, tc.content, string(got), "a refused file is left as it was")
		})
	}
	_, err := cursor.OpenFile("")
	assert.ErrorContains(t, err, "path is empty")
}

// A Put that cannot write keeps the values as they were, and says which
// key and file it failed on.
func TestFileFailedPutChangesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "pollers.json")
	s, err := cursor.OpenFile(path)
	require.NoError(t, err)
	require.NoError(t, s.Put(t.Context(), "k", "kept"))
	// The directory disappears under the store: the temporary file
	// cannot be created.
	require.NoError(t, os.RemoveAll(dir))
	err = s.Put(t.Context(), "k", "secret-ish value")
	require.Error(t, err)
	assert.ErrorContains(t, err, `"k"`)
	assert.ErrorContains(t, err, path)
	assert.NotContains(t, err.Error(), "secret-ish value", "errors never quote the value")
	v, ok, err := s.Get(t.Context(), "k")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "kept", v)
}
