package messages

import (
	"fmt"
	"strings"
	"time"
)

// Streams of the task inventory (see docs/protocol.md, "Inventory").
const (
	// IndexStream holds one Summary per finished task on
	// P.index.<state>.<queue>.<id>: the last message of each subject, so
	// that listing, filtering by state and queue, and counting are subject
	// filters the server answers from its index, never a scan.
	IndexStream = "JETRUN_INDEX"
	// DeadStream holds the task message of every task whose result is not
	// success, on P.dead.<queue>.<id>, unchanged, with DeadHeaders: the
	// spec a retry runs again. It has a retention of its own (age and
	// size); what it drops is counted (DeadPurgedCounter).
	DeadStream = "JETRUN_DEAD"
	// CountersStream holds JetStream counters (P.counters.>): how many dead
	// letters jetrun's purge removed, so that what retention removed can be
	// told apart and reported.
	CountersStream = "JETRUN_COUNTERS"
)

// Task states, as listed by the inventory. A task is queued while its
// message waits in TasksStream, running while a live worker's lease holds
// it, then succeeded, failed or cancelled by its result.
const (
	TaskQueued    = "queued"
	TaskRunning   = "running"
	TaskSucceeded = "succeeded"
	TaskFailed    = "failed"
	TaskCancelled = "cancelled"
)

// FinishedStates are the states of a task with a result, the second token
// of its index subject.
var FinishedStates = []string{TaskSucceeded, TaskFailed, TaskCancelled}

// StateOf is the finished state of a result status: success is succeeded,
// cancelled is cancelled, and every other status (error, timeout, killed,
// or one this version does not know) is failed.
func StateOf(status string) string {
	switch status {
	case ResultSuccess:
		return TaskSucceeded
	case ResultCancelled:
		return TaskCancelled
	default:
		return TaskFailed
	}
}

// ValidState reports whether s is one of the five task states.
func ValidState(s string) bool {
	switch s {
	case TaskQueued, TaskRunning, TaskSucceeded, TaskFailed, TaskCancelled:
		return true
	}
	return false
}

// MaxSummaryErrorLen bounds Summary.Error: enough for a list to show what
// went wrong; the whole error is in the stored Result.
const MaxSummaryErrorLen = 512

// Summary is a finished task's index record, published by the worker that
// finished it to P.index.<state>.<queue>.<id> once its result is stored.
type Summary struct {
	// ID is the task id; Queue the queue its message came from.
	ID    string `msgpack:"id"`
	Queue string `msgpack:"queue"`
	// State is TaskSucceeded, TaskFailed or TaskCancelled (StateOf
	// Status); Status, ExitCode and Attempt are the stored Result's.
	State    string `msgpack:"state"`
	Status   string `msgpack:"status"`
	ExitCode int    `msgpack:"exit_code"`
	Attempt  int    `msgpack:"attempt,omitempty"`
	// Error is the result's error, cut to MaxSummaryErrorLen bytes.
	Error string `msgpack:"error,omitempty"`
	// Worker is the id of the worker that stored the result.
	Worker string `msgpack:"worker,omitempty"`
	// Submitted is when TasksStream stored the task message; Started and
	// Finished are the result's.
	Submitted time.Time `msgpack:"submitted,omitempty"`
	Started   time.Time `msgpack:"started,omitempty"`
	Finished  time.Time `msgpack:"finished"`
	// LogBytes is the result's count of output bytes published.
	LogBytes int64 `msgpack:"log_bytes,omitempty"`
	// Spec is the task as submitted, without its input (InputBytes says
	// how long that was) and with its env values emptied (the keys are
	// kept); absent when the message did not decode.
	Spec       *Task `msgpack:"spec,omitempty"`
	InputBytes int   `msgpack:"input_bytes,omitempty"`
	// Dead reports that the task message was kept in DeadStream.
	Dead bool `msgpack:"dead,omitempty"`
}

// DecodeSummary decodes a Summary; its times are in UTC.
func DecodeSummary(data []byte) (*Summary, error) {
	var w summaryWire
	if err := decode("summary", data, &w); err != nil {
		return nil, err
	}
	return &Summary{
		ID: w.ID, Queue: w.Queue, State: w.State, Status: w.Status, ExitCode: w.ExitCode, Attempt: w.Attempt,
		Error: w.Error, Worker: w.Worker,
		Submitted: utc(w.Submitted), Started: utc(w.Started), Finished: utc(w.Finished),
		LogBytes: w.LogBytes, Spec: w.Spec, InputBytes: w.InputBytes, Dead: w.Dead,
	}, nil
}

// summaryWire is Summary with its times as pointers (see statusWire).
type summaryWire struct {
	ID         string     `msgpack:"id"`
	Queue      string     `msgpack:"queue"`
	State      string     `msgpack:"state"`
	Status     string     `msgpack:"status"`
	ExitCode   int        `msgpack:"exit_code"`
	Attempt    int        `msgpack:"attempt,omitempty"`
	Error      string     `msgpack:"error,omitempty"`
	Worker     string     `msgpack:"worker,omitempty"`
	Submitted  *time.Time `msgpack:"submitted,omitempty"`
	Started    *time.Time `msgpack:"started,omitempty"`
	Finished   *time.Time `msgpack:"finished"`
	LogBytes   int64      `msgpack:"log_bytes,omitempty"`
	Spec       *Task      `msgpack:"spec,omitempty"`
	InputBytes int        `msgpack:"input_bytes,omitempty"`
	Dead       bool       `msgpack:"dead,omitempty"`
}

// Headers a dead letter carries beside the unchanged task message.
const (
	DeadStatusHeader   = "Jetrun-Status"   // the result's status
	DeadErrorHeader    = "Jetrun-Error"    // its error, cut to MaxSummaryErrorLen, one line
	DeadWorkerHeader   = "Jetrun-Worker"   // the worker that stored it
	DeadAttemptHeader  = "Jetrun-Attempt"  // the run that produced it
	DeadFinishedHeader = "Jetrun-Finished" // its Finished, RFC 3339 with nanoseconds
	// DeadSubmittedHeader is when TasksStream stored the task message.
	DeadSubmittedHeader = "Jetrun-Submitted"
)

// DeadMsgID is the Nats-Msg-Id of task id's dead letter, "<id>.dead".
func DeadMsgID(id string) string { return id + ".dead" }

// IndexMsgID is the Nats-Msg-Id of task id's index record, "<id>.index".
func IndexMsgID(id string) string { return id + ".index" }

// DeadPurgedCounter is the counter subject P.counters.dead.purged: dead
// letters removed by a purge or a retry, not by retention.
func (s Subjects) DeadPurgedCounter() string { return s.Prefix + ".counters.dead.purged" }

// AllCounters is P.counters.>, the subjects of CountersStream.
func (s Subjects) AllCounters() string { return s.Prefix + ".counters.>" }

// Index is P.index.<state>.<queue>.<id>, the subject of a finished task's
// Summary.
func (s Subjects) Index(state, queue, id string) string {
	return s.Prefix + ".index." + state + "." + queue + "." + id
}

// IndexFilter is the index subjects matching state, queue and id, each a
// wildcard when empty: IndexFilter("failed", "", "") is
// P.index.failed.*.*.
func (s Subjects) IndexFilter(state, queue, id string) string {
	return s.Index(wild(state), wild(queue), wild(id))
}

// AllIndex is P.index.>, the subjects of IndexStream.
func (s Subjects) AllIndex() string { return s.Prefix + ".index.>" }

// Dead is P.dead.<queue>.<id>, the subject of a task's dead letter.
func (s Subjects) Dead(queue, id string) string { return s.Prefix + ".dead." + queue + "." + id }

// DeadFilter is the dead-letter subjects matching queue and id, each a
// wildcard when empty.
func (s Subjects) DeadFilter(queue, id string) string { return s.Dead(wild(queue), wild(id)) }

// AllDead is P.dead.>, the subjects of DeadStream.
func (s Subjects) AllDead() string { return s.Prefix + ".dead.>" }

// TaskFilter is P.tasks.<queue>, or P.tasks.* for every queue when queue is
// empty.
func (s Subjects) TaskFilter(queue string) string { return s.Prefix + ".tasks." + wild(queue) }

// QueueOf returns the queue of a task message's subject P.tasks.<queue>,
// and whether subject is one.
func (s Subjects) QueueOf(subject string) (string, bool) {
	q, ok := strings.CutPrefix(subject, s.Prefix+".tasks.")
	if !ok || ValidQueue(q) != nil {
		return "", false
	}
	return q, true
}

// ParseIndex splits an index subject into its state, queue and id.
func (s Subjects) ParseIndex(subject string) (state, queue, id string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".index.")
	if !ok {
		return "", "", "", false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 || !ValidState(parts[0]) || ValidQueue(parts[1]) != nil || !ValidID(parts[2]) {
		return "", "", "", false
	}
	return parts[0], parts[1], parts[2], true
}

// ParseDead splits a dead-letter subject into its queue and id.
func (s Subjects) ParseDead(subject string) (queue, id string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".dead.")
	if !ok {
		return "", "", false
	}
	queue, id, ok = strings.Cut(rest, ".")
	if !ok || ValidQueue(queue) != nil || !ValidID(id) {
		return "", "", false
	}
	return queue, id, true
}

func wild(token string) string {
	if token == "" {
		return "*"
	}
	return token
}

// RetryID is the id of the task that retries task id: "<id>-r1" for a
// first retry, and "<base>-r<n+1>" for a retry of "<base>-r<n>", so that
// a chain of retries reads x, x-r1, x-r2 and retrying one task twice
// names the same new task, which runs once. An id too long for the suffix
// keeps its first characters. The retry's RetryOf says which task it
// retries; the id alone proves nothing.
func RetryID(id string) string {
	base, n := id, 0
	if i := strings.LastIndex(id, "-r"); i > 0 {
		var k int
		if _, err := fmt.Sscanf(id[i+2:], "%d", &k); err == nil && k > 0 && fmt.Sprint(k) == id[i+2:] {
			base, n = id[:i], k
		}
	}
	suffix := fmt.Sprintf("-r%d", n+1)
	if len(base)+len(suffix) > MaxIDLen {
		base = base[:MaxIDLen-len(suffix)]
	}
	return base + suffix
}
