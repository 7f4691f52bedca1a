package messages

// DefaultPrefix is the subject prefix P unless configured.
const DefaultPrefix = "jetrun"

// DefaultQueue is the queue tasks go to unless they name one.
const DefaultQueue = "default"

// Stream names.
const (
	TasksStream  = "JETRUN_TASKS"
	EventsStream = "JETRUN_EVENTS"
)

// Subjects builds jetrun subjects under a prefix P.
type Subjects struct {
	Prefix string
}

// NewSubjects returns Subjects for prefix, DefaultPrefix when empty.
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

// Reply subjects under a reply prefix R.
func StatusSubject(reply string) string { return reply + ".status" }

// LogSubject is R.log.
func LogSubject(reply string) string { return reply + ".log" }

// StatSubject is R.stat.
func StatSubject(reply string) string { return reply + ".stat" }

// ResultSubject is R.result.
func ResultSubject(reply string) string { return reply + ".result" }
