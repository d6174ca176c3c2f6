package cursor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// ErrCorrupt is wrapped by OpenFile when the file exists but does not hold
// a JSON object of strings.
var ErrCorrupt = errors.New("cursor file is not a JSON object of strings")

// File is a Store kept in one JSON file (an object mapping keys to
// values), read once by OpenFile and held in memory.
//
// Every Put rewrites the whole file before it returns: it writes a
// temporary file (mode 0600) in the same directory, syncs it, renames it
// over the old file and syncs the directory, so that a crash or power loss
// leaves either the old content or the new, never a torn file, and a Put
// that returned survives both. A failed Put leaves the values in memory as
// they were; the file holds the old content or, if only the final
// directory sync failed, the new.
//
// File suits a few keys written at polling pace (each Put costs two
// fsyncs and a rewrite of every key). It is safe for concurrent use within
// one process; two processes, or two Files, must not share a path: the
// last writer would silently drop the other's values.
type File struct {
	path string
	mu   sync.Mutex
	m    map[string]string
}

var _ Store = (*File)(nil)

// OpenFile loads the store kept at path, or starts an empty one when path
// does not exist (the file is then created by the first Put, and its
// directory, mode 0700, if missing). A file that exists but is not a JSON
// object of strings is refused with an error naming path and wrapping
// ErrCorrupt; the file is left untouched for an operator to inspect.
func OpenFile(path string) (*File, error) {
	if path == "" {
		return nil, errors.New("cursor: OpenFile: the path is empty")
	}
	s := &File{path: path, m: make(map[string]string)}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("cursor: creating the directory of %s: %w", path, err)
		}
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("cursor: reading %s: %w", path, err)
	}
	var m map[string]string
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("cursor: %s: %w: %v", path, ErrCorrupt, err)
	}
	if m == nil { // the file held JSON null
		return nil, fmt.Errorf("cursor: %s: %w: it holds null", path, ErrCorrupt)
	}
	s.m = m
	return s, nil
}

// Path returns the file's path.
func (s *File) Path() string { return s.path }

// Get returns the value stored under key, from memory. It fails only when
// ctx is done.
func (s *File) Get(ctx context.Context, key string) (string, bool, error) {
	if err := ctx.Err(); err != nil {
		return "", false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok, nil
}

// Put stores value under key and rewrites the file atomically and durably
// before it returns. ctx is checked before the write starts; a write once
// started is finished (it takes two fsyncs), so that no caller is left
// wondering whether a cancelled Put reached the disk. Errors name the key
// and the file, never the value.
func (s *File) Put(ctx context.Context, key, value string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.m)
	next[key] = value
	if err := writeAtomic(s.path, next); err != nil {
		return fmt.Errorf("cursor: storing %q in %s: %w", key, s.path, err)
	}
	s.m = next
	return nil
}

// writeAtomic replaces path with m encoded as JSON: temporary file,
// fsync, rename, fsync of the directory.
func writeAtomic(path string, m map[string]string) (err error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding: %w", err)
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*") // mode 0600
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(append(data, '\n')); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Platforms that cannot sync a
// directory (EINVAL, unsupported) make their renames durable otherwise.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing the directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("syncing the directory: %w", err)
	}
	return nil
}
