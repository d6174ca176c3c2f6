//go:build !unix

package audit

import "os"

// lockFile is a no-op where advisory file locks are not available; one
// writer per file remains the host's responsibility there.
func lockFile(f *os.File) error { return nil }
