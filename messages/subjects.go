package messages

import (
	"fmt"
	"strings"

	"github.com/jetrun/jetrun/imageref"
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
	// ResultsStream holds the one Result of each task on P.results.<id>,
	// whatever its reply prefix: at most one message per subject, and a
	// second one is refused. It is the run-once guard: a task whose id has
	// a result there is not run again. Its retention (not the events') is
	// how long an id stays done.
	ResultsStream = "JETRUN_RESULTS"
	// RunsStream holds the last Run of each task on P.runs.<id>: how many
	// times workers have started the task. Its count, not JetStream's
	// delivery count, is what MaxDeliver bounds.
	RunsStream = "JETRUN_RUNS"
)

// MsgIDHeader is the JetStream header that deduplicates publishes: a task
// is published with TaskMsgID(id), a result with ResultMsgID(id).
const MsgIDHeader = "Nats-Msg-Id"

// TaskMsgID is the Nats-Msg-Id of task id's publish: the id itself, so that
// publishing the same task twice within the duplicate window stores it once.
func TaskMsgID(id string) string { return id }

// ResultMsgID is the Nats-Msg-Id of task id's result, "<id>.result", so
// that JetStream keeps one result per task within its duplicate window.
func ResultMsgID(id string) string { return id + ".result" }

// RunMsgID is the Nats-Msg-Id of task id's run n, "<id>.run.<n>", so that
// a retried record of one run is stored once.
func RunMsgID(id string, n int) string { return fmt.Sprintf("%s.run.%d", id, n) }

// ConsumerName is the durable JetStream consumer on TasksStream that the
// workers of queue share: "jetrun-<queue>".
func ConsumerName(queue string) string { return "jetrun-" + queue }

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

// StoredResult is P.results.<id>, where ResultsStream keeps task id's one
// Result.
func (s Subjects) StoredResult(id string) string { return s.Prefix + ".results." + id }

// AllStoredResults is P.results.*, the subjects of ResultsStream.
func (s Subjects) AllStoredResults() string { return s.Prefix + ".results.*" }

// Run is P.runs.<id>, where RunsStream keeps task id's last Run.
func (s Subjects) Run(id string) string { return s.Prefix + ".runs." + id }

// AllRuns is P.runs.*, the subjects of RunsStream.
func (s Subjects) AllRuns() string { return s.Prefix + ".runs.*" }

// AllResults is P.events.*.result, the results of every task whose events
// go to its default reply prefix.
func (s Subjects) AllResults() string { return s.Prefix + ".events.*.result" }

// ResultTask is the task id that subject P.events.<id>.result is the
// result of, and whether subject is one.
func (s Subjects) ResultTask(subject string) (id string, ok bool) {
	rest, ok := strings.CutPrefix(subject, s.Prefix+".events.")
	if !ok {
		return "", false
	}
	id, ok = strings.CutSuffix(rest, ".result")
	if !ok || !ValidID(id) {
		return "", false
	}
	return id, true
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
// must be one or more tokens of A-Z a-z 0-9 _ - separated by dots, at most
// MaxSubjectLen characters.
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

// Admitted is what Check learnt about a valid task.
type Admitted struct {
	// Image is the task's image reference, parsed.
	Image imageref.Ref
	// Reply is the reply prefix R the task's events go to.
	Reply string
	// Stored reports whether R lies in EventsStream (R is P.events.<id>),
	// so its result can be looked up later.
	Stored bool
}

// Check is t.Validate plus the rules that need the prefix (ValidReply),
// returning what a worker needs of a valid task.
func (s Subjects) Check(t *Task) (Admitted, error) {
	image, err := t.check()
	if err != nil {
		return Admitted{}, err
	}
	if err := s.ValidReply(t.ID, t.Reply); err != nil {
		return Admitted{}, err
	}
	return Admitted{Image: image, Reply: s.Reply(t), Stored: s.Stored(t.ID, t.Reply)}, nil
}

// Stored reports whether the events of task id with reply prefix reply are
// kept in EventsStream: reply is empty (the default) or P.events.<id>.
func (s Subjects) Stored(id, reply string) bool { return reply == "" || reply == s.Events(id) }

// ValidReply reports why reply cannot be the reply prefix of task id, as a
// *ValidationError, or nil; "" (the default, P.events.<id>) is valid. A
// reply prefix follows the prefix alphabet (see ValidPrefix), may not lie
// under P.tasks, P.cancel, P.results or P.runs (its events would be taken
// for tasks, cancels, stored results or run records), and one under P.events must be the
// task's own, P.events.<id> (anything else would publish onto another
// task's events).
func (s Subjects) ValidReply(id, reply string) error {
	if reply == "" || reply == s.Events(id) {
		return nil
	}
	if reason := checkSubject(reply); reason != "" {
		return invalid("reply", "%s", reason)
	}
	for _, reserved := range []string{s.Prefix + ".tasks", s.Prefix + ".cancel", s.Prefix + ".results", s.Prefix + ".runs", s.Prefix + ".events"} {
		if reply != reserved && !strings.HasPrefix(reply, reserved+".") {
			continue
		}
		if reserved == s.Prefix+".events" {
			return invalid("reply", "%q lies under %s but is not the task's own %s", reply, reserved, s.Events(id))
		}
		return invalid("reply", "%q lies under %s, which is reserved", reply, reserved)
	}
	return nil
}

// ValidateTask reports what Check would refuse in t, or nil.
func (s Subjects) ValidateTask(t *Task) error {
	_, err := s.Check(t)
	return err
}
