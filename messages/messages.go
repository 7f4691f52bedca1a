// Package messages holds jetrun's wire types: the contract between
// producers, workers and the submit CLI, as specified in docs/protocol.md.
//
// Every payload is a MessagePack map with string keys. Decoders ignore keys
// they do not know, and an absent key means the zero value. Durations are
// integers in milliseconds, times the MessagePack timestamp extension, and
// binary data MessagePack bin.
package messages

import (
	"time"
)

// Task is a unit of work published to P.tasks.<queue>.
type Task struct {
	// ID is required: 1 to 128 of A-Z a-z 0-9 _ - (it is a subject token).
	ID string `msgpack:"id"`
	// Image is required: a Docker image reference.
	Image string `msgpack:"image"`
	// Cmd is the argv; empty means the image's default command.
	Cmd []string `msgpack:"cmd,omitempty"`
	// Env holds environment variables.
	Env map[string]string `msgpack:"env,omitempty"`
	// Input is fed to the container's stdin, then stdin is closed.
	Input []byte `msgpack:"input,omitempty"`
	// Labels are container labels; keys starting "jetrun." are reserved.
	Labels map[string]string `msgpack:"labels,omitempty"`
	// TimeoutMS is the run timeout in milliseconds; 0 means the worker's
	// default.
	TimeoutMS int64 `msgpack:"timeout_ms,omitempty"`
	// Memory is the memory limit in bytes; 0 means the worker's default.
	Memory int64 `msgpack:"memory,omitempty"`
	// CPUs is the CPU limit in milli-CPUs; 0 means the worker's default.
	CPUs int64 `msgpack:"cpus,omitempty"`
	// Volumes are [host path, container path] pairs.
	Volumes [][]string `msgpack:"volumes,omitempty"`
	// Workdir is the working directory inside the container.
	Workdir string `msgpack:"workdir,omitempty"`
	// Reply is the reply prefix R; empty means P.events.<id>.
	Reply string `msgpack:"reply,omitempty"`
}

// Timeout returns the task's timeout as a duration (0: worker default).
func (t *Task) Timeout() time.Duration { return time.Duration(t.TimeoutMS) * time.Millisecond }

// Cancel asks for a task to be cancelled; published to P.cancel.<id>.
type Cancel struct {
	ID     string `msgpack:"id"`
	Reason string `msgpack:"reason,omitempty"`
}

// Lifecycle states carried by Status.State.
const (
	StatePreparing = "preparing"
	StatePulling   = "pulling"
	StateRunning   = "running"
)

// Status is a lifecycle event, published to R.status.
type Status struct {
	ID      string    `msgpack:"id"`
	State   string    `msgpack:"state"`
	Detail  string    `msgpack:"detail,omitempty"`
	Worker  string    `msgpack:"worker,omitempty"`
	Attempt int       `msgpack:"attempt,omitempty"`
	Time    time.Time `msgpack:"time"`
}

// Log stream names carried by Log.Stream.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Log is a chunk of a task's output, published to R.log.
type Log struct {
	ID     string `msgpack:"id"`
	Stream string `msgpack:"stream"`
	// Seq counts 0, 1, 2 ... per task attempt, across both streams.
	Seq     uint64 `msgpack:"seq"`
	Data    []byte `msgpack:"data"`
	Attempt int    `msgpack:"attempt,omitempty"`
}

// Stat is a resource sample, published to R.stat.
type Stat struct {
	ID      string            `msgpack:"id,omitempty"`
	Time    time.Time         `msgpack:"time"`
	Metrics map[string]uint64 `msgpack:"metrics"`
}

// Result statuses carried by Result.Status.
const (
	ResultSuccess   = "success"
	ResultError     = "error"
	ResultTimeout   = "timeout"
	ResultKilled    = "killed"
	ResultCancelled = "cancelled"
)

// Result is the one final outcome of a task, published to R.result.
type Result struct {
	ID     string `msgpack:"id"`
	Status string `msgpack:"status"`
	// ExitCode is the container's exit code; -1 when it never exited on its
	// own.
	ExitCode int    `msgpack:"exit_code"`
	Error    string `msgpack:"error,omitempty"`
	OOM      bool   `msgpack:"oom,omitempty"`
	Worker   string `msgpack:"worker,omitempty"`
	Attempt  int    `msgpack:"attempt,omitempty"`
	// Started is when the container started; zero if it never did.
	Started    time.Time `msgpack:"started,omitempty"`
	Finished   time.Time `msgpack:"finished"`
	Stats      []Stat    `msgpack:"stats,omitempty"`
	LogBytes   int64     `msgpack:"log_bytes"`
	LogDropped int64     `msgpack:"log_dropped"`
}
