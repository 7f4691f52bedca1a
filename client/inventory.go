package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/messages"
)

// TaskState is where a task is in its life (messages.TaskQueued ...).
type TaskState string

// The states List and Inspect report.
const (
	StateQueued    TaskState = messages.TaskQueued
	StateRunning   TaskState = messages.TaskRunning
	StateSucceeded TaskState = messages.TaskSucceeded
	StateFailed    TaskState = messages.TaskFailed
	StateCancelled TaskState = messages.TaskCancelled
)

// ErrUnknownTask means no stream knows the task id: never submitted, or
// every record of it has expired.
var ErrUnknownTask = errors.New("unknown task")

// DefaultListLimit and MaxListLimit bound a page of List.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
)

// ListOptions filter and page List. The zero value lists the newest
// DefaultListLimit tasks in every state.
type ListOptions struct {
	// State keeps one state; empty keeps all.
	State TaskState
	// Queue and Worker keep one queue's, one worker's tasks (a queued task
	// has no worker); empty keeps all.
	Queue, Worker string
	// Since keeps tasks whose last change is at or after it; zero: any.
	Since time.Time
	// Before is the cursor of the next page (TaskPage.Next): tasks whose
	// last change is before it. Zero: from now.
	Before time.Time
	// Limit is the page size: DefaultListLimit when 0, at most
	// MaxListLimit.
	Limit int
	// Dead lists the dead letters (JETRUN_DEAD) instead: failed and
	// cancelled tasks whose spec is kept and can be retried.
	Dead bool
}

// TaskSummary is one line of List.
type TaskSummary struct {
	ID, Queue string
	State     TaskState
	// Status is the result's status (messages.ResultSuccess ...) once the
	// task finished.
	Status string
	// Worker is the worker running it, or the one that finished it.
	Worker string
	// Attempt is the run it is in, or the run that finished it, from 1.
	Attempt int
	// Submitted is when JETRUN_TASKS stored it (zero when not known);
	// Started and Finished are its run's, zero until they happen.
	Submitted, Started, Finished time.Time
	// Updated is when it entered its state: the order of List.
	Updated time.Time
	// ExitCode and Error are the result's; Error cut to
	// messages.MaxSummaryErrorLen.
	ExitCode int
	Error    string
	// RetryOf is the task this one retries (submit retry).
	RetryOf string
	// Dead reports that its task message is kept in JETRUN_DEAD.
	Dead bool
}

// Duration is how long it ran: Finished (or now, while running) less
// Started; 0 when it never started.
func (s TaskSummary) Duration() time.Duration {
	switch {
	case s.Started.IsZero():
		return 0
	case s.Finished.IsZero():
		return time.Since(s.Started)
	default:
		return s.Finished.Sub(s.Started)
	}
}

// TaskPage is a page of List.
type TaskPage struct {
	Tasks []TaskSummary
	// More reports that older tasks match; Next is the ListOptions.Before
	// that lists them.
	More bool
	Next time.Time
}

// List returns the tasks matching o, the most recently changed first:
// running tasks from the live workers' leases, queued ones from
// JETRUN_TASKS, finished ones from JETRUN_INDEX, each read with batched
// direct gets under subject filters (state and queue are subject tokens),
// so a page costs a few requests however many tasks the streams hold. A
// filter on the worker is applied to the records read, page by page.
func (c *Client) List(ctx context.Context, o ListOptions) (*TaskPage, error) {
	if err := o.check(); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	want := o.Limit + 1 // one more tells whether there is a next page
	var all []TaskSummary
	add := func(s []TaskSummary, err error) error {
		all = append(all, s...)
		return err
	}
	if o.Dead {
		if err := add(c.listDead(ctx, o, want)); err != nil {
			return nil, fmt.Errorf("list dead letters: %w", err)
		}
	} else {
		var running map[string]bool
		if o.State == "" || o.State == StateRunning || o.State == StateQueued {
			r, err := c.listRunning(ctx, o)
			if err != nil {
				return nil, fmt.Errorf("list running tasks: %w", err)
			}
			running = make(map[string]bool, len(r))
			for _, s := range r {
				running[s.ID] = true
			}
			if o.State != StateQueued {
				all = append(all, r...)
			}
		}
		if (o.State == "" || o.State == StateQueued) && o.Worker == "" {
			if err := add(c.listQueued(ctx, o, want, running)); err != nil {
				return nil, fmt.Errorf("list queued tasks: %w", err)
			}
		}
		if o.State == "" || o.State == StateSucceeded || o.State == StateFailed || o.State == StateCancelled {
			if err := add(c.listFinished(ctx, o, want)); err != nil {
				return nil, fmt.Errorf("list finished tasks: %w", err)
			}
		}
	}
	all = dropSettling(all)
	slices.SortStableFunc(all, func(a, b TaskSummary) int {
		if c := b.Updated.Compare(a.Updated); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	page := &TaskPage{Tasks: all}
	if len(all) > o.Limit {
		page.Tasks, page.More = all[:o.Limit], true
		page.Next = page.Tasks[o.Limit-1].Updated
	}
	if !o.Dead {
		if err := c.checkDead(ctx, page.Tasks); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	}
	return page, nil
}

// checkDead clears the Dead of the tasks whose dead letter is gone
// (dropped by retention or purged since the index said so): one request
// for the whole page.
func (c *Client) checkDead(ctx context.Context, tasks []TaskSummary) error {
	var subjects []string
	for _, s := range tasks {
		if s.Dead {
			subjects = append(subjects, c.subj.Dead(s.Queue, s.ID))
		}
	}
	msgs, err := c.direct.LastOf(ctx, messages.DeadStream, subjects)
	if err != nil && !errors.Is(err, jsdirect.ErrNoStream) {
		return err
	}
	kept := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		kept[m.Subject] = true
	}
	for i := range tasks {
		if tasks[i].Dead && !kept[c.subj.Dead(tasks[i].Queue, tasks[i].ID)] {
			tasks[i].Dead = false
		}
	}
	return nil
}

// dropSettling removes the queued line of a task also listed running or
// finished: its message stays in JETRUN_TASKS from its result until its
// worker's ack lands, a moment later; and the running line of a task also
// listed finished, from a lease written before it ended.
func dropSettling(all []TaskSummary) []TaskSummary {
	settled, finished := map[string]bool{}, map[string]bool{}
	for _, s := range all {
		if s.State != StateQueued {
			settled[s.ID] = true
		}
		if s.State != StateQueued && s.State != StateRunning {
			finished[s.ID] = true
		}
	}
	// A lease is up to 5 s old: a task it shows running may be finished.
	return slices.DeleteFunc(all, func(s TaskSummary) bool {
		return s.State == StateQueued && settled[s.ID] || s.State == StateRunning && finished[s.ID]
	})
}

func (o *ListOptions) check() error {
	switch {
	case o.State != "" && !messages.ValidState(string(o.State)):
		return fmt.Errorf("%w: state %q is not one of queued, running, succeeded, failed, cancelled", ErrInvalidOption, o.State)
	case o.Dead && o.State != "" && o.State != StateFailed && o.State != StateCancelled:
		return fmt.Errorf("%w: dead letters are failed or cancelled, not %s", ErrInvalidOption, o.State)
	case o.Queue != "" && messages.ValidQueue(o.Queue) != nil:
		return fmt.Errorf("%w: %v", ErrInvalidOption, messages.ValidQueue(o.Queue))
	case o.Limit < 0 || o.Limit > MaxListLimit:
		return fmt.Errorf("%w: limit %d is not within 1 and %d", ErrInvalidOption, o.Limit, MaxListLimit)
	}
	if o.Limit == 0 {
		o.Limit = DefaultListLimit
	}
	return nil
}

// within reports whether t lies in o's time window.
func (o ListOptions) within(t time.Time) bool {
	return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Before.IsZero() || t.Before(o.Before))
}

// newest pages stream backwards under filter within o's time window:
// up to want messages that keep accepts.
func (c *Client) newest(ctx context.Context, stream, filter string, o ListOptions, want int, keep func(*jsdirect.Msg) bool) ([]jsdirect.Msg, error) {
	var before uint64
	if !o.Before.IsZero() {
		msgs, _, err := c.direct.Get(ctx, stream, jsdirect.Request{StartTime: &o.Before, NextFor: filter, Batch: 1, MaxBytes: 1})
		if err != nil {
			return nil, err
		}
		if len(msgs) > 0 {
			before = msgs[0].Seq
		}
	}
	msgs, _, err := c.direct.Newest(ctx, stream, filter, before, o.Since, want, keep)
	if errors.Is(err, jsdirect.ErrNoStream) {
		return nil, nil // not provisioned yet: nothing to list
	}
	return msgs, err
}

func (c *Client) listFinished(ctx context.Context, o ListOptions, want int) ([]TaskSummary, error) {
	var out []TaskSummary
	keep := func(m *jsdirect.Msg) bool {
		s, ok := c.summaryOf(m)
		if !ok || o.Worker != "" && s.Worker != o.Worker || !o.within(s.Updated) {
			return false
		}
		out = append(out, s)
		return true
	}
	_, err := c.newest(ctx, messages.IndexStream, c.subj.IndexFilter(string(o.State), o.Queue, ""), o, want, keep)
	return out, err
}

// summaryOf reads an index record; one that does not decode, or whose
// subject and content disagree, is skipped.
func (c *Client) summaryOf(m *jsdirect.Msg) (TaskSummary, bool) {
	state, queue, id, ok := c.subj.ParseIndex(m.Subject)
	if !ok {
		return TaskSummary{}, false
	}
	r, err := messages.DecodeSummary(m.Data)
	if err != nil || r.ID != id || r.Queue != queue || r.State != state {
		c.opts.logger.Warn("index record skipped", "subject", m.Subject, "err", err)
		return TaskSummary{}, false
	}
	s := TaskSummary{
		ID: id, Queue: queue, State: TaskState(state), Status: r.Status, Worker: r.Worker, Attempt: r.Attempt,
		Submitted: r.Submitted, Started: r.Started, Finished: r.Finished, Updated: m.Time,
		ExitCode: r.ExitCode, Error: r.Error, Dead: r.Dead,
	}
	if r.Spec != nil {
		s.RetryOf = r.Spec.RetryOf
	}
	return s, true
}

func (c *Client) listQueued(ctx context.Context, o ListOptions, want int, running map[string]bool) ([]TaskSummary, error) {
	var out []TaskSummary
	keep := func(m *jsdirect.Msg) bool {
		queue, ok := c.subj.QueueOf(m.Subject)
		if !ok || !o.within(m.Time) {
			return false
		}
		s := TaskSummary{Queue: queue, State: StateQueued, Submitted: m.Time, Updated: m.Time}
		if t, err := messages.DecodeTask(m.Data); err == nil {
			s.ID, s.RetryOf = t.ID, t.RetryOf
		} else {
			s.ID, _ = messages.PeekTask(m.Data)
		}
		if !messages.ValidID(s.ID) || running[s.ID] {
			return false
		}
		out = append(out, s)
		return true
	}
	_, err := c.newest(ctx, messages.TasksStream, c.subj.TaskFilter(o.Queue), o, want, keep)
	return out, err
}

func (c *Client) listRunning(ctx context.Context, o ListOptions) ([]TaskSummary, error) {
	workers, err := c.Workers(ctx)
	if errors.Is(err, ErrNoWorkersBucket) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []TaskSummary
	for _, w := range workers {
		if o.Queue != "" && w.Queue != o.Queue || o.Worker != "" && w.ID != o.Worker {
			continue
		}
		for _, id := range w.Running {
			if messages.ValidID(id) {
				out = append(out, TaskSummary{ID: id, Queue: w.Queue, State: StateRunning, Worker: w.ID, Updated: w.Seen})
			}
		}
	}
	// Their runs, in multi-last direct gets.
	byRun := make(map[string]*TaskSummary, len(out))
	var subjects []string
	for i := range out {
		byRun[c.subj.Run(out[i].ID)] = &out[i]
		subjects = append(subjects, c.subj.Run(out[i].ID))
	}
	runs, err := c.direct.LastOf(ctx, messages.RunsStream, subjects)
	if err != nil && !errors.Is(err, jsdirect.ErrNoStream) {
		return nil, err
	}
	for _, m := range runs {
		if s, ok := byRun[m.Subject]; ok {
			if r, err := messages.DecodeRun(m.Data); err == nil && r.ID == s.ID {
				s.Attempt, s.Started, s.Updated = r.Run, m.Time, m.Time
			}
		}
	}
	return slices.DeleteFunc(out, func(s TaskSummary) bool { return !o.within(s.Updated) }), nil
}

func (c *Client) listDead(ctx context.Context, o ListOptions, want int) ([]TaskSummary, error) {
	var out []TaskSummary
	keep := func(m *jsdirect.Msg) bool {
		s, ok := c.deadSummary(m)
		if !ok || o.State != "" && s.State != o.State || o.Worker != "" && s.Worker != o.Worker || !o.within(s.Updated) {
			return false
		}
		out = append(out, s)
		return true
	}
	_, err := c.newest(ctx, messages.DeadStream, c.subj.DeadFilter(o.Queue, ""), o, want, keep)
	return out, err
}

// deadSummary reads a dead letter's subject and headers.
func (c *Client) deadSummary(m *jsdirect.Msg) (TaskSummary, bool) {
	queue, id, ok := c.subj.ParseDead(m.Subject)
	if !ok {
		return TaskSummary{}, false
	}
	h := m.Header
	status := h.Get(messages.DeadStatusHeader)
	s := TaskSummary{
		ID: id, Queue: queue, State: TaskState(messages.StateOf(status)), Status: status,
		Worker: h.Get(messages.DeadWorkerHeader), Error: h.Get(messages.DeadErrorHeader),
		Updated: m.Time, Dead: true, ExitCode: -1,
	}
	s.Attempt, _ = strconv.Atoi(h.Get(messages.DeadAttemptHeader))
	s.Finished, _ = time.Parse(time.RFC3339Nano, h.Get(messages.DeadFinishedHeader))
	s.Submitted, _ = time.Parse(time.RFC3339Nano, h.Get(messages.DeadSubmittedHeader))
	if t, err := messages.DecodeTask(m.Data); err == nil {
		s.RetryOf = t.RetryOf
	}
	return s, true
}

// TaskDetail is everything Inspect found about one task.
type TaskDetail struct {
	TaskSummary
	// Spec is the task as submitted, without its input (InputBytes says
	// how long that was); nil when no stream keeps it. Its env values are
	// empty when it comes from the index (only a dead letter or a queued
	// message keeps them).
	Spec       *messages.Task
	InputBytes int
	// Statuses are its status events, oldest first (tasks with the
	// default reply prefix, while JETRUN_EVENTS keeps them).
	Statuses []messages.Status
	// Runs is how many times workers started it (JETRUN_RUNS).
	Runs int
	// Result is its stored result (with its stats and log size).
	Result *messages.Result
	// RetriedAs is the task that retries this one, when there is one.
	RetriedAs string
}

// Inspect returns what every stream knows about task id: its state and
// summary, its spec (from its dead letter, its index record or its queued
// message), its status transitions, runs and result, and the tasks it
// retries or is retried by. It returns ErrUnknownTask when none knows it.
// Finding a task that is only queued reads JETRUN_TASKS until its message.
func (c *Client) Inspect(ctx context.Context, id string) (*TaskDetail, error) {
	if err := messages.CheckID(id); err != nil {
		return nil, fmt.Errorf("inspect: %w", err)
	}
	d, err := c.inspect(ctx, id, inspectHow{links: true})
	if err != nil {
		return nil, fmt.Errorf("inspect task %s: %w", id, err)
	}
	return d, nil
}

// inspectHow says how far inspect looks: links, for the task that
// retries this one; queued, the ids JETRUN_TASKS holds, when the caller
// has read them already (nil: inspect reads the stream for this id).
type inspectHow struct {
	links  bool
	queued map[string]bool
}

func (c *Client) inspect(ctx context.Context, id string, how inspectHow) (*TaskDetail, error) {
	d := &TaskDetail{TaskSummary: TaskSummary{ID: id}}
	known := false
	last := func(stream, filter string) (*jsdirect.Msg, error) {
		m, err := c.direct.Last(ctx, stream, filter)
		if errors.Is(err, jsdirect.ErrNoStream) {
			return nil, nil
		}
		return m, err
	}
	if m, err := last(messages.IndexStream, c.subj.IndexFilter("", "", id)); err != nil {
		return nil, err
	} else if m != nil {
		if s, ok := c.summaryOf(m); ok {
			d.TaskSummary, known = s, true
			if r, err := messages.DecodeSummary(m.Data); err == nil && r.Spec != nil {
				d.Spec, d.InputBytes = r.Spec, r.InputBytes
			}
		}
	}
	// The dead letter itself says whether one is kept: the index record's
	// flag is as of the task's end, before a purge, retry or retention
	// removed it.
	d.Dead = false
	if m, err := last(messages.DeadStream, c.subj.DeadFilter("", id)); err != nil {
		return nil, err
	} else if m != nil {
		if s, ok := c.deadSummary(m); ok {
			if !known {
				d.TaskSummary, known = s, true
			}
			d.Dead = true
			if t, err := messages.DecodeTask(m.Data); err == nil {
				d.InputBytes, t.Input = len(t.Input), nil
				d.Spec = t
			}
		}
	}
	var runAt time.Time // when the last run started
	if m, err := last(messages.RunsStream, c.subj.Run(id)); err != nil {
		return nil, err
	} else if m != nil {
		if r, err := messages.DecodeRun(m.Data); err == nil {
			d.Runs, runAt, known = r.Run, m.Time, true
		}
	}
	var err error
	if d.Result, err = c.storedResultOrNone(ctx, id); err != nil {
		return nil, err
	}
	if d.Statuses, err = c.statuses(ctx, id); err != nil {
		return nil, err
	}
	if d.Result != nil {
		known = true
		if d.State == "" {
			d.fromResult()
		}
	} else {
		if err := c.inspectLive(ctx, d, runAt, how.queued); err != nil {
			return nil, err
		}
		known = known || d.State != ""
		if d.State == "" {
			// Not in JETRUN_TASKS now: if it settled since the result
			// lookup above, its result is stored (a message leaves the
			// stream only after that), so look once more.
			if r, err := c.storedResultOrNone(ctx, id); err == nil && r != nil {
				known, d.Result = true, r
				d.fromResult()
			}
		}
	}
	if !known && len(d.Statuses) == 0 {
		return nil, ErrUnknownTask
	}
	if d.Spec != nil {
		d.RetryOf = d.Spec.RetryOf
	}
	if how.links && d.State != StateQueued && d.State != StateRunning {
		next := messages.RetryID(id)
		// Its retry_of proves the link; a retry caught between its result
		// and its index record has no spec to read yet, and its name says.
		if n, err := c.inspect(ctx, next, inspectHow{}); err == nil && (n.RetryOf == id || n.Spec == nil) {
			d.RetriedAs = next
		}
	}
	return d, nil
}

// storedResultOrNone is result, with a missing event stream meaning no
// result.
func (c *Client) storedResultOrNone(ctx context.Context, id string) (*messages.Result, error) {
	r, err := c.result(ctx, id)
	if errors.Is(err, ErrNoEventStream) {
		return nil, nil
	}
	return r, err
}

// fromResult fills in d's summary from its Result.
func (d *TaskDetail) fromResult() {
	r := d.Result
	d.State, d.Status, d.Worker, d.Attempt = TaskState(messages.StateOf(r.Status)), r.Status, r.Worker, r.Attempt
	d.Started, d.Finished, d.Updated, d.ExitCode = r.Started, r.Finished, r.Finished, r.ExitCode
	d.Error = messages.Clip(r.Error, messages.MaxSummaryErrorLen)
}

// inspectLive fills in the state of a task without a result: running
// when a live worker's lease holds it (its run started at runAt), queued
// when its message is in JETRUN_TASKS (in queued, when not nil).
func (c *Client) inspectLive(ctx context.Context, d *TaskDetail, runAt time.Time, queued map[string]bool) error {
	workers, err := c.Workers(ctx)
	if err != nil && !errors.Is(err, ErrNoWorkersBucket) {
		return err
	}
	for _, w := range workers {
		if slices.Contains(w.Running, d.ID) {
			d.State, d.Queue, d.Worker, d.Attempt = StateRunning, w.Queue, w.ID, d.Runs
			d.Started, d.Updated = runAt, cmp.Or(runAt, w.Seen)
			break
		}
	}
	if queued != nil {
		if queued[d.ID] && d.State == "" {
			d.State = StateQueued
		}
		return nil
	}
	var found *jsdirect.Msg
	_, _, err = c.direct.Newest(ctx, messages.TasksStream, c.subj.TaskFilter(""), 0, time.Time{}, 1, func(m *jsdirect.Msg) bool {
		if id, _ := messages.PeekTask(m.Data); id == d.ID {
			found = m
			return true
		}
		return false
	})
	if err != nil && !errors.Is(err, jsdirect.ErrNoStream) {
		return err
	}
	if found == nil {
		return nil
	}
	d.Queue, _ = c.subj.QueueOf(found.Subject)
	d.Submitted = found.Time
	if d.State == "" {
		d.State, d.Updated = StateQueued, found.Time
	}
	if t, err := messages.DecodeTask(found.Data); err == nil && d.Spec == nil {
		d.InputBytes, t.Input = len(t.Input), nil
		d.Spec = t
	}
	return nil
}

// queuedIDs reads the ids of every task message JETRUN_TASKS holds: one
// pass over the stream, for callers that look many ids up.
func (c *Client) queuedIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	for seq := uint64(1); ; {
		msgs, _, err := c.direct.Get(ctx, messages.TasksStream, jsdirect.Request{Seq: seq, NextFor: c.subj.TaskFilter(""), Batch: 10000})
		if errors.Is(err, jsdirect.ErrNoStream) {
			return ids, nil
		}
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if id, _ := messages.PeekTask(m.Data); id != "" {
				ids[id] = true
			}
		}
		if len(msgs) == 0 || msgs[len(msgs)-1].Pending == 0 {
			return ids, nil
		}
		seq = msgs[len(msgs)-1].Seq + 1
	}
}

// maxStats bounds the resource samples Stats reads: the newest 600 (ten
// minutes at the worker's default of one a second).
const maxStats = 600

// Stats returns task id's newest resource samples stored in JETRUN_EVENTS
// (at most 600), oldest first: the memory and CPU of a task while it
// runs; its Result carries the run's whole series, decimated, once it
// ends. A task with none stored returns none.
func (c *Client) Stats(ctx context.Context, id string) ([]messages.Stat, error) {
	if err := messages.CheckID(id); err != nil {
		return nil, fmt.Errorf("stats: %w", err)
	}
	msgs, _, err := c.direct.Newest(ctx, messages.EventsStream, messages.StatSubject(c.subj.Events(id)), 0, time.Time{}, maxStats, nil)
	if errors.Is(err, jsdirect.ErrNoStream) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stats of task %s: %w", id, err)
	}
	out := make([]messages.Stat, 0, len(msgs))
	for i := len(msgs) - 1; i >= 0; i-- {
		if st, err := messages.DecodeStat(msgs[i].Data); err == nil && st.ID == id {
			out = append(out, *st)
		}
	}
	return out, nil
}

// maxStatuses bounds the status events Inspect reads.
const maxStatuses = 1000

// statuses returns task id's status events stored in JETRUN_EVENTS.
func (c *Client) statuses(ctx context.Context, id string) ([]messages.Status, error) {
	msgs, _, err := c.direct.Get(ctx, messages.EventsStream, jsdirect.Request{NextFor: messages.StatusSubject(c.subj.Events(id)), Batch: maxStatuses})
	if errors.Is(err, jsdirect.ErrNoStream) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []messages.Status
	for _, m := range msgs {
		if s, err := messages.DecodeStatus(m.Data); err == nil && s.ID == id {
			out = append(out, *s)
		}
	}
	slices.SortStableFunc(out, func(a, b messages.Status) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	return out, nil
}
