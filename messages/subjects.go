package messages

import (
	"fmt"
	"strings"
)

// DefaultPrefix is the subject prefix P unless configured.
const DefaultPrefix = "jetrun"

// DefaultQueue is the queue tasks go to unless they name one.
const DefaultQueue = "default"

// JetStream stream names (see docs/protocol.md).
const (
	// TasksStream holds P.tasks.> with work-queue retention.
	TasksStream = "JETRUN_TASKS"
	// EventsStream holds P.events.> with limits retention.
	EventsStream = "JETRUN_EVENTS"
	// CancelsStream holds the last Cancel of each P.cancel.<id>.
	CancelsStream = "JETRUN_CANCELS"
)

// MsgIDHeader is the JetStream header that deduplicates publishes: a task
// is published with its id, a result with ResultMsgID(id).
const MsgIDHeader = "Nats-Msg-Id"

// ResultMsgID is the Nats-Msg-Id of task id's result, "<id>.result", so
// that JetStream keeps one result per task within its duplicate window.
func ResultMsgID(id string) string { return id + ".result" }

// Subjects builds jetrun subjects under a prefix P.
type Subjects struct {
	Prefix string
}

// NewSubjects returns Subjects for prefix, DefaultPrefix when empty. Check
// a configured prefix with ValidPrefix first.
func NewSubjects(prefix string) Subjects {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Subjects{Prefix: prefix}
}

// Task is P.tasks.<queue> (DefaultQueue when queue is empty).
func (s Subjects) Task(queue string) string {
	if queue == "" {
		queue = DefaultQueue
	}
	return s.Prefix + ".tasks." + queue
}

// AllTasks is P.tasks.>, the subjects of JETRUN_TASKS.
func (s Subjects) AllTasks() string { return s.Prefix + ".tasks.>" }

// Cancel is P.cancel.<id>.
func (s Subjects) Cancel(id string) string { return s.Prefix + ".cancel." + id }

// AllCancels is P.cancel.*.
func (s Subjects) AllCancels() string { return s.Prefix + ".cancel.*" }

// AllEvents is P.events.>, the subjects of JETRUN_EVENTS.
func (s Subjects) AllEvents() string { return s.Prefix + ".events.>" }

// Reply is the reply prefix R of a task: task.Reply, or P.events.<id> when
// empty.
func (s Subjects) Reply(t *Task) string {
	if t.Reply != "" {
		return t.Reply
	}
	return s.Events(t.ID)
}

// Events is P.events.<id>, the default reply prefix of task id.
func (s Subjects) Events(id string) string { return s.Prefix + ".events." + id }

// StatusSubject is R.status, under a reply prefix R.
func StatusSubject(reply string) string { return reply + ".status" }

// LogSubject is R.log.
func LogSubject(reply string) string { return reply + ".log" }

// StatSubject is R.stat.
func StatSubject(reply string) string { return reply + ".stat" }

// ResultSubject is R.result.
func ResultSubject(reply string) string { return reply + ".result" }

// ValidPrefix reports why prefix cannot be a subject prefix P, or nil: it
// must be a NATS subject of one or more tokens without wildcards or white
// space.
func ValidPrefix(prefix string) error {
	if reason := checkSubject(prefix); reason != "" {
		return fmt.Errorf("subject prefix %s", reason)
	}
	return nil
}

// ValidQueue reports why queue cannot name a queue, or nil: it follows the
// task id rules (1 to MaxIDLen of A-Z a-z 0-9 _ -), so it is exactly one
// subject token.
func ValidQueue(queue string) error {
	if err := validateID(queue); err != nil {
		return fmt.Errorf("queue: %s", err.(*ValidationError).Reason)
	}
	return nil
}

// ValidateTask is t.Validate plus the checks that need the prefix: a reply
// prefix may not lie under P.tasks or P.cancel, where a worker's events
// would be taken for tasks or cancels.
func (s Subjects) ValidateTask(t *Task) error {
	if err := t.Validate(); err != nil {
		return err
	}
	if t.Reply == "" {
		return nil
	}
	for _, reserved := range []string{s.Prefix + ".tasks", s.Prefix + ".cancel"} {
		if t.Reply == reserved || strings.HasPrefix(t.Reply, reserved+".") {
			return invalid("reply", "%q lies under %s, which is reserved", t.Reply, reserved)
		}
	}
	return nil
}
