package driver

import "errors"

// Set of acceptable errors coming from container engines to the worker.
var (
	// ErrOutOfMemory means the kernel killed the task for memory. It is
	// user visible: the task's owner can act on it.
	ErrOutOfMemory = UserError(errors.New("out of memory"))

	// ErrTransient marks a Prepare (or Run) error that may succeed when
	// retried: runtime or registry unreachable, 5xx, 429, timeouts.
	ErrTransient = errors.New("transient")
	// ErrPermanent marks an error that will not succeed when retried: no
	// such image, unauthorized, invalid container configuration.
	ErrPermanent = errors.New("permanent")

	// ErrImageUnavailable is wrapped by a Prepare error about getting the
	// task's image from its registry (not found, refused, unreachable),
	// as opposed to the runtime itself failing. Transient ones may be
	// retried for a bounded time; the registry is not the worker's
	// infrastructure.
	ErrImageUnavailable = errors.New("image unavailable")

	// ErrVolumeNotAllowed is wrapped by AllowList.ResolveVolume when a
	// host path may not be mounted.
	ErrVolumeNotAllowed = errors.New("volume not allowed")

	// ErrInvalidConfig is wrapped by every Config validation error.
	ErrInvalidConfig = errors.New("invalid driver config")
)

// userError is an error whose message is safe and useful to show to the
// task's owner (the seed's unexported userError).
type userError struct{ err error }

// UserError marks err as user visible: IsUserVisible(err) is true, and
// errors.Is/As still reach err.
func UserError(err error) error { return userError{err} }

func (e userError) Error() string     { return e.err.Error() }
func (e userError) Unwrap() error     { return e.err }
func (e userError) UserVisible() bool { return true }

// IsUserVisible reports whether err, or any error it wraps, is marked user
// visible (has a UserVisible() bool method that returns true).
func IsUserVisible(err error) bool {
	var uv interface{ UserVisible() bool }
	return errors.As(err, &uv) && uv.UserVisible()
}

// classified wraps an error with a class sentinel; errors.Is matches both.
type classified struct {
	class error
	err   error
}

func (e *classified) Error() string   { return e.err.Error() }
func (e *classified) Unwrap() []error { return []error{e.err, e.class} }

// Transient marks err as transient: errors.Is(err, ErrTransient) is true and
// the original error is still reachable with errors.Is/As. nil stays nil.
func Transient(err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: ErrTransient, err: err}
}

// Permanent marks err as permanent: errors.Is(err, ErrPermanent) is true and
// the original error is still reachable with errors.Is/As. nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{class: ErrPermanent, err: err}
}

// IsTransient reports whether err is marked transient.
func IsTransient(err error) bool { return errors.Is(err, ErrTransient) }

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
