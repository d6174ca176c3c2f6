//go:build !unix

package sqlite

import (
	"errors"
	"os"
)

// lockFile is not implemented off Unix: Lock fails rather than letting two
// runners share a file unguarded.
func lockFile(path, owner string) (*os.File, error) {
	return nil, errors.New("sqlite: the runner lock needs flock, which this operating system lacks")
}

func unlockFile(f *os.File) error { return f.Close() }
