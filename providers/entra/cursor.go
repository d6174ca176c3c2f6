package entra

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// CursorStore persists the triggers' cursors, so that a restarted host
// resumes where it stopped instead of re-reading or skipping records.
//
// Get returns the value stored under key and true, or false when there is
// none. Put replaces it. Both must be safe for concurrent use; an error is
// reported by the trigger, which keeps polling (a failed Put means records
// may be read again after a restart; the runner's de-duplication absorbs
// them).
type CursorStore interface {
	Get(ctx context.Context, key string) (string, bool, error)
	Put(ctx context.Context, key, value string) error
}

// MemoryCursors is a CursorStore held in memory, for tests and hosts that
// do not need to survive restarts. It is safe for concurrent use; the zero
// value is ready.
type MemoryCursors struct {
	mu sync.Mutex
	m  map[string]string
}

var _ CursorStore = (*MemoryCursors)(nil)

// Get returns the cursor stored under key. It never fails.
func (m *MemoryCursors) Get(_ context.Context, key string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.m[key]
	return v, ok, nil
}

// Put stores value under key. It never fails.
func (m *MemoryCursors) Put(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = make(map[string]string)
	}
	m.m[key] = value
	return nil
}

// FileCursors is a CursorStore that keeps one file per key in a directory.
// Put writes a temporary file, syncs it and renames it over the old one,
// so that a crash leaves either the old or the new cursor, never a torn
// one. It is safe for concurrent use within a process; two processes must
// not share a directory.
type FileCursors struct {
	dir string
	mu  sync.Mutex
}

var _ CursorStore = (*FileCursors)(nil)

// NewFileCursors returns a FileCursors in dir, creating dir (0700) if
// needed.
func NewFileCursors(dir string) (*FileCursors, error) {
	if dir == "" {
		return nil, errors.New("entra: NewFileCursors: dir is empty")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("entra: cursor directory: %w", err)
	}
	return &FileCursors{dir: dir}, nil
}

// path maps a key to a file name that is safe whatever the key holds.
func (f *FileCursors) path(key string) string {
	h := sha256.Sum256([]byte(key))
	return filepath.Join(f.dir, "cursor-"+hex.EncodeToString(h[:12]))
}

// Get reads the cursor stored under key.
func (f *FileCursors) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := os.ReadFile(f.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("entra: reading cursor %q: %w", key, err)
	}
	return string(b), true, nil
}

// Put stores value under key atomically (write, fsync, rename, fsync dir).
func (f *FileCursors) Put(ctx context.Context, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	dst := f.path(key)
	tmp, err := os.CreateTemp(f.dir, ".tmp-cursor-*")
	if err != nil {
		return fmt.Errorf("entra: writing cursor %q: %w", key, err)
	}
	_, werr := tmp.WriteString(value)
	if werr == nil {
		werr = tmp.Sync()
	}
	if cerr := tmp.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), dst)
	}
	if werr != nil {
		_ = os.Remove(tmp.Name())
		return fmt.Errorf("entra: writing cursor %q: %w", key, werr)
	}
	if d, err := os.Open(f.dir); err == nil {
		_ = d.Sync() // best effort: persist the rename
		_ = d.Close()
	}
	return nil
}
