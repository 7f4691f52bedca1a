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
// Each delivery goes admit → execute → outcome → settle, each step in one
// place. Admission (admit.go) decodes the spec, validates it with the
// protocol's rules from package messages, applies the worker's Policy
// (image and volume allow-lists, maxima) and resolves every limit, so that
// nothing after it decides about the task again. Execution (task.go)
// honours a cancel stored before the task was picked up, records the run
// in JETRUN_RUNS (runs.go: MaxDeliver bounds runs, not deliveries), prepares the
// container with bounded, jittered retries for transient errors, runs it
// under a context whose cause tells a cancel request from a worker
// shutdown, and returns an outcome: the result, and whether to ack,
// terminate or hand back, with a Kind from a fixed set. Settlement
// (settle.go) stores the one Result per task id (with JetStream's
// deduplication, and a check for an existing result before a redelivered
// task runs again) and only then acks, terminates or naks. A task refused
// or undecodable is terminated, never retried; a task interrupted by
// shutdown is handed back at once for another worker. Every request to
// JetStream on a task's way is retried through an outage (retry.go) while
// the heartbeat keeps the lease, so NATS being away delays a task but
// never spends its runs or fails it.
//
// How containers run (network, user, pids) is the driver's configuration,
// not the worker's: the driver receives resolved tasks and applies no
// defaults.
//
// The layout of streams and subjects is in docs/protocol.md; the operator's
// view (flags, metrics, health) in docs/worker.md.
package worker
