//go:build unix

package natsconn

import (
	"os"
	"syscall"
)

// lockFile takes a non-blocking exclusive flock on f, released when f is
// closed (or its process exits).
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
