// Package messages holds jetrun's wire types: the contract between
// producers, workers and the submit CLI, as specified in docs/protocol.md.
//
// It owns every rule of the protocol, so that no other package writes one
// again: subject, stream and consumer names (Subjects, TasksStream,
// ConsumerName), the message-id scheme (TaskMsgID, ResultMsgID), which reply
// prefixes are stored (Subjects.Stored), and the validation of ids, queues,
// prefixes and reply prefixes (CheckID, ValidQueue, ValidPrefix,
// Subjects.ValidReply, Subjects.Check). It imports nothing of the runtime:
// image references are parsed by the leaf package imageref.
//
// Every payload is a MessagePack map with string keys. Decoders ignore keys
// they do not know, and an absent key means the zero value. Durations are
// integers in milliseconds, times the MessagePack timestamp extension (type
// -1), and binary data MessagePack bin. Encode writes the same bytes for the
// same message (sorted map keys, smallest integers); the golden files in
// testdata pin them.
//
// Decoding and validating are separate steps with separate error types: a
// payload that is not a well-formed map of the expected shape gives a
// *DecodeError (errors.Is(err, ErrUndecodable)); one that decodes but breaks
// a rule gives a *ValidationError (errors.Is(err, ErrInvalid)) naming the
// field. The decoders are safe on untrusted bytes: they refuse truncated,
// trailing or over-nested data before allocating anything it declares.
package messages

import (
	"time"
)

// Task is a unit of work published to P.tasks.<queue>.
type Task struct {
	// ID is required: 1 to 128 of A-Z a-z 0-9 _ - (it is a subject token).
	ID string `msgpack:"id" json:"id"`
	// Image is required: a Docker image reference.
	Image string `msgpack:"image" json:"image"`
	// Cmd is the argv; empty means the image's default command.
	Cmd []string `msgpack:"cmd,omitempty" json:"cmd,omitempty"`
	// Env holds environment variables.
	Env map[string]string `msgpack:"env,omitempty" json:"env,omitempty"`
	// Input is fed to the container's stdin, then stdin is closed.
	Input []byte `msgpack:"input,omitempty" json:"input,omitempty"`
	// Labels are container labels; keys starting "jetrun." are reserved.
	Labels map[string]string `msgpack:"labels,omitempty" json:"labels,omitempty"`
	// TimeoutMS is the run timeout in milliseconds; 0 means the worker's
	// default.
	TimeoutMS int64 `msgpack:"timeout_ms,omitempty" json:"timeout_ms,omitempty"`
	// Memory is the memory limit in bytes; 0 means the worker's default.
	Memory int64 `msgpack:"memory,omitempty" json:"memory,omitempty"`
	// CPUs is the CPU limit in milli-CPUs; 0 means the worker's default.
	CPUs int64 `msgpack:"cpus,omitempty" json:"cpus,omitempty"`
	// Volumes are bind mounts: [host path, container path] or [host path,
	// container path, mode] with mode VolumeReadOnly or VolumeReadWrite;
	// without a mode a volume is read-only.
	Volumes [][]string `msgpack:"volumes,omitempty" json:"volumes,omitempty"`
	// Workdir is the working directory inside the container.
	Workdir string `msgpack:"workdir,omitempty" json:"workdir,omitempty"`
	// Reply is the reply prefix R; empty means P.events.<id>.
	Reply string `msgpack:"reply,omitempty" json:"reply,omitempty"`
	// RetryOf is the id of the task this one runs again (submit retry):
	// information for people and the inventory; workers do not act on it.
	RetryOf string `msgpack:"retry_of,omitempty" json:"retry_of,omitempty"`
	// Inputs are files placed in the container before it starts, from
	// ArtifactsBucket (see artifacts.go).
	Inputs []Input `msgpack:"inputs,omitempty" json:"inputs,omitempty"`
	// InputObject names an object of ArtifactsBucket fed to stdin instead
	// of Input, for input too large for the task message.
	InputObject string `msgpack:"input_object,omitempty" json:"input_object,omitempty"`
	// Outputs are container paths collected into ArtifactsBucket after the
	// container stops, whatever its status (Result.Artifacts).
	Outputs []string `msgpack:"outputs,omitempty" json:"outputs,omitempty"`
}

// Volume modes, the optional third element of a Task volume.
const (
	VolumeReadOnly  = "ro"
	VolumeReadWrite = "rw"
)

// VolumeWritable reports whether volume v (an element of Task.Volumes) is
// mounted read-write: only when its mode says VolumeReadWrite.
func VolumeWritable(v []string) bool { return len(v) == 3 && v[2] == VolumeReadWrite }

// Timeout returns the task's timeout as a duration (0: worker default).
func (t *Task) Timeout() time.Duration { return time.Duration(t.TimeoutMS) * time.Millisecond }

// Cancel asks for a task to be cancelled; published to P.cancel.<id>.
type Cancel struct {
	// ID is the task id (also the last token of the subject).
	ID string `msgpack:"id"`
	// Reason is free text, copied into the result's error.
	Reason string `msgpack:"reason,omitempty"`
}

// Lifecycle states carried by Status.State.
const (
	StatePreparing = "preparing"
	StatePulling   = "pulling"
	StateRunning   = "running"
)

// Status is a lifecycle event, published to R.status: zero or more per
// task, in order.
type Status struct {
	// ID is the task id.
	ID string `msgpack:"id" json:"id"`
	// State is StatePreparing, StatePulling or StateRunning.
	State string `msgpack:"state" json:"state"`
	// Detail is human text, e.g. pull progress.
	Detail string `msgpack:"detail,omitempty" json:"detail,omitempty"`
	// Worker is the worker id.
	Worker string `msgpack:"worker,omitempty" json:"worker,omitempty"`
	// Attempt is the task's run, from 1 (Run.Run).
	Attempt int `msgpack:"attempt,omitempty" json:"attempt,omitempty"`
	// Time is when the state was entered.
	Time time.Time `msgpack:"time" json:"time"`
}

// Log stream names carried by Log.Stream.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
)

// Log is a chunk of a task's output, published to R.log.
type Log struct {
	// ID is the task id.
	ID string `msgpack:"id"`
	// Stream is StreamStdout or StreamStderr.
	Stream string `msgpack:"stream"`
	// Seq counts 0, 1, 2 ... per task attempt, across both streams, so a
	// reader can order chunks and spot gaps.
	Seq uint64 `msgpack:"seq"`
	// Data is the output, at most the worker's chunk size.
	Data []byte `msgpack:"data"`
	// Attempt is the task's run, from 1 (Run.Run).
	Attempt int `msgpack:"attempt,omitempty"`
}

// Stat is a resource sample, published to R.stat and carried (without ID)
// in Result.Stats.
type Stat struct {
	// ID is the task id; empty inside a Result.
	ID string `msgpack:"id,omitempty" json:"id,omitempty"`
	// Time is when the sample was taken.
	Time time.Time `msgpack:"time" json:"time"`
	// Metrics maps names such as driver.MetricMemUsage to values.
	Metrics map[string]uint64 `msgpack:"metrics" json:"metrics"`
}

// Result statuses carried by Result.Status; the same strings as the
// driver's final statuses.
const (
	ResultSuccess   = "success"
	ResultError     = "error"
	ResultTimeout   = "timeout"
	ResultKilled    = "killed"
	ResultCancelled = "cancelled"
)

// Run records that a worker starts a task, published to P.runs.<id>
// before it prepares the container; RunsStream keeps the last one. Its
// count is the task's attempt number.
type Run struct {
	// ID is the task id (also the last token of the subject).
	ID string `msgpack:"id"`
	// Run counts the task's runs, from 1.
	Run int `msgpack:"run"`
	// Worker is the id of the worker making this run.
	Worker string `msgpack:"worker,omitempty"`
}

// Result is the one final outcome of a task, published to R.result.
type Result struct {
	// ID is the task id.
	ID string `msgpack:"id" json:"id"`
	// Status is one of ResultSuccess, ResultError, ResultTimeout,
	// ResultKilled or ResultCancelled.
	Status string `msgpack:"status" json:"status"`
	// ExitCode is the container's exit code; -1 when it never exited on its
	// own.
	ExitCode int `msgpack:"exit_code" json:"exit_code"`
	// Error is empty on success; otherwise what went wrong, for a person.
	Error string `msgpack:"error,omitempty" json:"error,omitempty"`
	// OOM means the kernel killed the task for memory (Status is
	// ResultKilled).
	OOM bool `msgpack:"oom,omitempty" json:"oom,omitempty"`
	// Worker is the worker id.
	Worker string `msgpack:"worker,omitempty" json:"worker,omitempty"`
	// Attempt is the run that produced this result (Run.Run), from 1.
	Attempt int `msgpack:"attempt,omitempty" json:"attempt,omitempty"`
	// Started is when the container started; zero (and absent on the wire)
	// if it never did.
	Started time.Time `msgpack:"started,omitempty" json:"started,omitempty"`
	// Finished is when the result was made.
	Finished time.Time `msgpack:"finished" json:"finished"`
	// Stats are the run's samples, decimated to at most 240.
	Stats []Stat `msgpack:"stats,omitempty" json:"stats,omitempty"`
	// LogBytes counts the output bytes published.
	LogBytes int64 `msgpack:"log_bytes" json:"log_bytes"`
	// LogDropped counts the output bytes not published (over the cap).
	LogDropped int64 `msgpack:"log_dropped" json:"log_dropped"`
	// Artifacts lists every path of Task.Outputs, in order, as collected.
	Artifacts []Artifact `msgpack:"artifacts,omitempty" json:"artifacts,omitempty"`
}
