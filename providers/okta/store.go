package okta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
)

// Store keeps small string values by key: the System Log poller's cursor
// and the actions' idempotency records. Implementations must be safe for
// concurrent use; Put must be durable when it returns (for a durable
// store) and Get must see every Put that returned before it. Get reports
// ok=false for a missing key. Both return ctx.Err() when ctx has ended.
type Store interface {
	Get(ctx context.Context, key string) (value string, ok bool, err error)
	Put(ctx context.Context, key, value string) error
}

// MemoryStore is a Store in memory, for tests and for hosts that accept
// losing the cursor on restart. The zero value is ready to use.
type MemoryStore struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Get returns the value stored under key.
func (s *MemoryStore) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Put stores value under key.
func (s *MemoryStore) Put(ctx context.Context, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]string{}
	}
	s.m[key] = value
	return nil
}

// FileStore is a Store kept in one JSON file. Every Put rewrites the file
// atomically: it writes a temporary file in the same directory, syncs it,
// renames it over the old one and syncs the directory, so that a crash
// leaves either the old or the new content, never a torn file. It is safe
// for concurrent use within one process; two processes must not share a
// file.
type FileStore struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

// OpenFileStore loads path, or starts empty when it does not exist. A file
// that exists but is not a JSON object of strings is an error naming it.
func OpenFileStore(path string) (*FileStore, error) {
	if path == "" {
		return nil, errors.New("okta: OpenFileStore: path is empty")
	}
	s := &FileStore{path: path, m: map[string]string{}}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("okta: reading state file: %w", err)
	}
	if err := json.Unmarshal(data, &s.m); err != nil {
		return nil, fmt.Errorf("okta: state file %s is not a JSON object of strings: %w", path, err)
	}
	if s.m == nil {
		s.m = map[string]string{}
	}
	return s, nil
}

// Path returns the file's path.
func (s *FileStore) Path() string { return s.path }

// Get returns the value stored under key.
func (s *FileStore) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Put stores value under key and rewrites the file atomically before it
// returns. On error the stored values are unchanged.
func (s *FileStore) Put(ctx context.Context, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.m)
	next[key] = value
	if err := writeAtomic(s.path, next); err != nil {
		return err
	}
	s.m = next
	return nil
}

func writeAtomic(path string, m map[string]string) (err error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("okta: encoding state: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("okta: writing state file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(append(data, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("okta: writing state file: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("okta: replacing state file: %w", err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every platform syncs directories
		d.Close()
	}
	return nil
}

var (
	_ Store = (*MemoryStore)(nil)
	_ Store = (*FileStore)(nil)
)
