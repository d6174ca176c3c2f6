package sqlite

import (
	"context"
	"os"
	"sync"
)

// fileLock is one runner lock taken through Lock.
type fileLock struct {
	once sync.Once
	f    *os.File
	err  error
}

func (l *fileLock) release() error {
	l.once.Do(func() { l.err = unlockFile(l.f) })
	return l.err
}

// LockPath returns the lock file Lock uses for the store at path: path
// with ".lock" appended.
func LockPath(path string) string { return path + ".lock" }

// Lock takes the runner lock of the store's file for owner (a description
// such as host and process id, kept in the lock file so that the next
// runner's error can name it) and returns the function that releases it.
// The lock is an operating-system lock (flock) on the file LockPath(path):
// it is exclusive across processes and across Stores of one process, and
// the operating system drops it when the process dies, however it dies, so
// a killed runner never blocks its successor.
//
// If another runner holds the lock, Lock fails at once with an error
// wrapping playbook.ErrStoreLocked that names the holder. Readers and
// verdict posters need no lock. The release function may be called more
// than once; Close releases a lock still held.
func (s *Store) Lock(ctx context.Context, owner string) (unlock func() error, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, s.closed()
	}
	f, err := lockFile(LockPath(s.path), owner)
	if err != nil {
		return nil, err
	}
	l := &fileLock{f: f}
	s.lockMu.Lock()
	s.locks[l] = struct{}{}
	s.lockMu.Unlock()
	return func() error {
		s.lockMu.Lock()
		delete(s.locks, l)
		s.lockMu.Unlock()
		return l.release()
	}, nil
}
