package docker

import (
	"context"
	"errors"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/client"

	"github.com/jetrun/jetrun/driver"
)

var (
	// ErrVolumeNotAllowed is wrapped (as a permanent error) by Prepare when
	// a task mounts a host path outside the configured volume roots, or
	// one whose real path left them or changed since admission. It is
	// driver.ErrVolumeNotAllowed.
	ErrVolumeNotAllowed = driver.ErrVolumeNotAllowed
	// ErrImageNotAllowed is wrapped (as a permanent error) by Prepare when a
	// task's image does not match the configured allow-list.
	ErrImageNotAllowed = errors.New("image not allowed")
	// ErrNoLimit is wrapped (as a permanent error) by Prepare when a task
	// comes without a memory or CPU limit: the driver refuses it rather
	// than pick one.
	ErrNoLimit = errors.New("task has no resource limit")
	// ErrPullStream is wrapped (as a transient error) when the daemon
	// reports a failure in the middle of an image download, after the
	// registry accepted the request.
	ErrPullStream = errors.New("image download failed")
	// ErrDiskLimitUnsupported is wrapped (as a permanent error) by every
	// call that contacts the daemon when driver.Config.DiskLimit is set
	// and the daemon's storage driver cannot enforce it.
	ErrDiskLimitUnsupported = errors.New("disk limit not supported by the storage driver")
	// ErrClosed is returned by Prepare after the Driver was closed.
	ErrClosed = errors.New("docker driver closed")
)

// classify marks err as transient or permanent from its type, never from
// its text: the Docker client maps HTTP statuses to containerd's errdefs
// classes, and connection failures have their own type.
//
// Permanent: not found, unauthenticated, permission denied, invalid
// argument, failed precondition, not implemented, conflict.
// Transient: the daemon unreachable, unavailable, internal (5xx),
// resource exhausted (429), deadline exceeded, network errors, and anything
// unclassified (the caller bounds its retries).
func classify(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, driver.ErrTransient), errors.Is(err, driver.ErrPermanent):
		return err
	case client.IsErrConnectionFailed(err),
		cerrdefs.IsUnavailable(err),
		cerrdefs.IsInternal(err),
		cerrdefs.IsResourceExhausted(err),
		cerrdefs.IsDeadlineExceeded(err),
		cerrdefs.IsUnknown(err),
		errors.Is(err, context.DeadlineExceeded):
		return driver.Transient(err)
	case cerrdefs.IsNotFound(err),
		cerrdefs.IsUnauthorized(err),
		cerrdefs.IsPermissionDenied(err),
		cerrdefs.IsInvalidArgument(err),
		cerrdefs.IsFailedPrecondition(err),
		cerrdefs.IsNotImplemented(err),
		cerrdefs.IsConflict(err),
		cerrdefs.IsAlreadyExists(err):
		return driver.Permanent(err)
	}
	// Network errors and anything unclassified: worth a bounded retry.
	return driver.Transient(err)
}

// containerInitMarkers are the phrases with which runc reports that the
// container's own init process failed to set itself up from the
// container's configuration: its mounts and working directory ("error
// during container init", "container init caused" before runc 1.1) or its
// user ("unable to setup user"). Failures of the runtime around it (cgroups,
// the shim, containerd) carry none of them.
var containerInitMarkers = []string{"error during container init", "container init caused", "unable to setup user"}

// containerInitFailed reports whether err, from starting a container,
// says the OCI runtime could not set up the container's process from its
// configuration: a mount over /proc, a directory over a file such as
// /etc/passwd, a missing executable. Those are the task's fault and fail
// the same way on every attempt. Docker 20.10 reports many of them as an
// unclassified (500) error carrying the runtime's text, so this is the one
// decision the driver takes from an error's text; it applies only to
// errors of ContainerStart that the daemon did classify neither as invalid
// nor as unavailable.
func containerInitFailed(err error) bool {
	if err == nil || client.IsErrConnectionFailed(err) || cerrdefs.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	msg := err.Error()
	if !strings.Contains(msg, "OCI runtime create failed") {
		return false
	}
	for _, m := range containerInitMarkers {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
