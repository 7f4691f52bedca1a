// Package client submits tasks to jetrun workers and follows them, for
// producers written in Go. It speaks the wire protocol of docs/protocol.md
// over a *nats.Conn the caller owns; docs/client.md is the guide.
//
// A Client is built with New from a connection and options (WithPrefix,
// WithQueue, ...). It keeps no global state and starts no goroutine until a
// task is submitted.
//
// Following one task:
//
//	h, err := c.Submit(ctx, &messages.Task{ID: "build-42", Image: "busybox", Cmd: []string{"echo", "hi"}})
//	if err != nil { ... }
//	defer h.Close()
//	for ev := range h.Events() { ... }   // status, log, stat, in order; closed after the result
//	res, err := h.Result(ctx)            // the one final result, however late it is asked for
//
// Submit subscribes to the task's reply subjects (R.status, R.log, R.stat,
// R.result) before it publishes, publishes with Nats-Msg-Id = task id and
// waits for JetStream's acknowledgement. A resubmit within the stream's
// duplicate window is acknowledged as a duplicate (Ack.Duplicate) and does
// not run the task twice.
//
// Events arrive on a bounded channel. The client never blocks the NATS
// connection on a slow reader: when the buffer (WithEventBuffer) is full,
// status, log and stat events are dropped and counted (Handle.Dropped);
// the result is kept apart and never dropped. Memory per handle is
// therefore bounded by the buffer (each log chunk is at most the worker's
// chunk size, 64 KiB by default). For a complete log, replay it with
// Client.Logs. When a task's reply prefix lies under P.events (the default),
// a result the live subscription missed, for instance during a reconnect,
// is read from JETRUN_EVENTS: at submit, after every reconnect and every
// WithResultPollInterval. Each open handle holds one subscription and one
// goroutine until its result arrives or it is closed.
//
// Firing many tasks: SubmitAsync publishes without waiting, with at most
// WithMaxPending publishes in flight, and returns a Pending per task that
// reports that task's publish error. WatchResults sees results as they are
// published; Flush waits for every pending publish.
//
// Following a task to its end with its complete output, as submit run
// does: Handle.Follow delivers status, samples and output to callbacks
// (output replayed from JETRUN_EVENTS when the reply prefix lies under
// P.events, so a slow reader loses none) and returns the result.
//
// Every event and result read for task X, live or stored, must carry id X:
// one that carries another id is skipped (and counted by
// Handle.Mismatched), never delivered or returned as X's.
//
// After the fact, by id, from JETRUN_EVENTS: Status (latest status or
// result), Logs (replay, optionally follow until the result), and Cancel.
//
// Errors are checkable with errors.Is: ErrNoTaskStream (no worker ever
// created JETRUN_TASKS), ErrInvalidTask (errors.As a
// *messages.ValidationError for the field), ErrPublishTimeout,
// ErrNoEventStream, ErrNotFound, ErrClosed. A task that fails is not an
// error: it is a *messages.Result whose Status says how it ended.
//
// Who owns what: the client owns the producer's side of the protocol
// (publishing tasks and cancels, reading events and results) over a
// connection the caller dials and closes (cmd/submit dials with
// internal/natsconn); the wire types, subjects and validation are package
// messages'; the streams are the workers', and the client never creates
// them.
package client
