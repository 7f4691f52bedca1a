// Package worker pulls jetrun tasks from NATS JetStream and runs them through
// a driver.Driver, publishing their status, log, stat and result events.
//
// A Worker binds to the durable pull consumer jetrun-<queue> on the stream
// JETRUN_TASKS, shared by the whole fleet. It never holds more unacked tasks
// than it has free slots: it fetches exactly as many messages as slots are
// free, never prefetching, so no task's lease runs out while it waits in a
// local queue. While a task prepares and runs, the worker extends its lease
// with InProgress at a fraction of AckWait, so a task longer than AckWait
// still runs exactly once.
//
// For each task it decodes and validates the spec, applies the worker's
// policy (image and volume allow-lists, memory and timeout limits), honours a
// cancel stored before the task was picked up, prepares the container with
// bounded, jittered retries for transient errors, runs it under a context
// whose cause tells a cancel request from a worker shutdown, and publishes
// exactly one Result per task id (with JetStream's deduplication, and a check
// for an existing result before a redelivered task runs again) before it
// acknowledges the task. A task refused or undecodable is terminated, never
// retried; a task interrupted by shutdown is handed back at once for another
// worker.
//
// The layout of streams and subjects is in docs/protocol.md; the operator's
// view (flags, metrics, health) in docs/worker.md.
package worker
