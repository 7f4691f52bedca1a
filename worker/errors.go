package worker

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidConfig is wrapped by every Config validation error.
	ErrInvalidConfig = errors.New("invalid worker config")
	// ErrShutdown is the cause of a task's context when the worker stops
	// before the task finished: the task is handed back, not failed.
	ErrShutdown = errors.New("worker shutting down")
	// ErrCancelRequested is wrapped by the cause of a task's context when a
	// cancel message for it arrived.
	ErrCancelRequested = errors.New("cancelled by request")
	// ErrRefused is wrapped by every policy refusal of a task.
	ErrRefused = errors.New("refused by worker policy")
	// ErrLayout is wrapped by the error of a worker that verifies its
	// streams (Config.VerifyStreams) and finds one missing or unsafe.
	ErrLayout = errors.New("jetstream layout not provisioned")
)

// errNotProvisioned is wrapped, with ErrLayout, by the error of a stream
// that does not exist yet: a worker waits for it to be provisioned rather
// than stop.
var errNotProvisioned = errors.New("not provisioned")

// cancelRequest is the cause of a task's context cancelled by a Cancel
// message; it carries the requester's reason.
type cancelRequest struct{ reason string }

func (c *cancelRequest) Error() string {
	if c.reason == "" {
		return ErrCancelRequested.Error()
	}
	return fmt.Sprintf("%s: %s", ErrCancelRequested, c.reason)
}

func (c *cancelRequest) Unwrap() error { return ErrCancelRequested }
