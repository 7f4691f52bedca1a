//go:build !unix

package natsconn

import "os"

// lockFile does not lock where flock is not available.
func lockFile(*os.File) error { return nil }
