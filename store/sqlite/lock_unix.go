//go:build unix

package sqlite

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/iamplaybook/iamplaybook/playbook"
)

// maxOwnerLen bounds the owner description kept in the lock file and
// quoted in errors.
const maxOwnerLen = 256

// lockFile takes an exclusive, non-blocking flock on path and writes owner
// into the file. The operating system releases the lock when the process
// dies, however it dies.
func lockFile(path, owner string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: opening the lock file %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		holder := readOwner(f)
		f.Close()
		return nil, fmt.Errorf("sqlite: %s is held by %s: %w", path, holder, playbook.ErrStoreLocked)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sqlite: locking %s: %w", path, err)
	}
	owner = sanitizeOwner(owner)
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(owner+"\n"), 0)
	}
	if err != nil {
		// The lock is held; only the description for others is missing.
		_ = f.Truncate(0)
	}
	return f, nil
}

// unlockFile releases the flock and closes f.
func unlockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, f.Close())
}

// readOwner returns the description the holder wrote, or a placeholder.
func readOwner(f *os.File) string {
	b := make([]byte, maxOwnerLen+1)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "another runner (its name could not be read)"
	}
	owner := sanitizeOwner(string(b[:n]))
	if owner == "" {
		return "another runner (unnamed)"
	}
	return fmt.Sprintf("%q", owner)
}

// sanitizeOwner keeps owner printable, one line and bounded.
func sanitizeOwner(owner string) string {
	owner = strings.TrimSpace(owner)
	owner = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, owner)
	if len(owner) > maxOwnerLen {
		owner = strings.ToValidUTF8(owner[:maxOwnerLen], "")
	}
	return owner
}
