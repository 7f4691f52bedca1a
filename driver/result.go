package driver

import "time"

// Result is a ready-made RunResult for drivers to return.
type Result struct {
	// State is the final status.
	State Status
	// Code is the exit code, -1 when the task never exited on its own.
	Code int
	// Err explains a failure; nil on success.
	Err error
	// Started is when the container started; zero if it never did.
	Started time.Time
}

var _ RunResult = (*Result)(nil)

// Error returns the failure's message, "" on success.
func (r *Result) Error() string {
	if r.Err == nil {
		return ""
	}
	return r.Err.Error()
}

// Unwrap returns the underlying error.
func (r *Result) Unwrap() error { return r.Err }

// Status returns the final status.
func (r *Result) Status() Status { return r.State }

// ExitCode returns the exit code, -1 when the task never exited on its own.
func (r *Result) ExitCode() int { return r.Code }

// StartedAt returns when the container started; zero if it never did.
func (r *Result) StartedAt() time.Time { return r.Started }

// Starter is an optional capability of a RunResult: when the task's
// container started.
type Starter interface {
	// StartedAt returns when the container started; zero if it never did.
	StartedAt() time.Time
}
