package client

import (
	"errors"

	"github.com/jetrun/jetrun/messages"
)

// Errors a producer can act on, checkable with errors.Is.
var (
	// ErrNoTaskStream means the JETRUN_TASKS stream does not exist: the
	// streams of this prefix were never provisioned (`worker --provision`,
	// or a worker with its embedded server, creates them; the client never
	// does).
	ErrNoTaskStream = errors.New("no task stream (is a worker running?)")

	// ErrNoEventStream means the JETRUN_EVENTS stream does not exist, so
	// nothing can be looked up by task id.
	ErrNoEventStream = errors.New("no event stream (is a worker running?)")

	// ErrInvalidTask is wrapped by every error about a task the client
	// refused before publishing it. It is messages.ErrInvalid, and the
	// error also wraps a *messages.ValidationError naming the field:
	//
	//	var verr *messages.ValidationError
	//	if errors.As(err, &verr) { fmt.Println(verr.Field) }
	ErrInvalidTask = messages.ErrInvalid

	// ErrPublishTimeout means JetStream did not acknowledge a publish in
	// time. The task may or may not be stored: submitting it again with the
	// same id is safe within the stream's duplicate window, which makes the
	// second publish a duplicate (see Ack.Duplicate) instead of a second run.
	ErrPublishTimeout = errors.New("publish timed out")

	// ErrNotFound means JETRUN_EVENTS holds no event for the task id: it was
	// never submitted, has not been picked up by a worker yet, used a reply
	// prefix outside the event stream, or its events have expired.
	ErrNotFound = errors.New("no events for task")

	// ErrClosed means the handle was closed before its result arrived and
	// the result cannot be read from JETRUN_EVENTS (the task's reply prefix
	// is not under it).
	ErrClosed = errors.New("handle closed")

	// ErrOutputIncomplete means the task's result was known but its
	// replayed output had not reached it within FollowOptions.OutputGrace:
	// the rest can still be replayed with Client.Logs.
	ErrOutputIncomplete = errors.New("output still arriving after the result")

	// ErrInvalidOption is wrapped by every error New returns for a bad
	// option.
	ErrInvalidOption = errors.New("invalid client option")
)
