package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/messages"
)

// Queue is what JETRUN_TASKS and the worker leases tell about one queue.
type Queue struct {
	// Name is the queue, the last token of P.tasks.<queue>.
	Name string
	// Stored is how many task messages JETRUN_TASKS holds for it: queued,
	// and held by workers (a task leaves the stream when it is settled).
	Stored uint64
	// Running is how many tasks its live workers hold, as of their last
	// lease write (every 5 s).
	Running int
	// Workers are the ids of its live workers, and Slots their total
	// concurrency.
	Workers []string
	Slots   int
	// InFlight and Redelivered are the queue's consumer's: task messages
	// delivered and not yet settled, and those delivered more than once
	// (zero when no worker has made the consumer yet).
	InFlight, Redelivered uint64
	// Dead counts its dead letters (JETRUN_DEAD); Failed its failed tasks
	// JETRUN_INDEX lists.
	Dead, Failed uint64
	// FinishedLastMinute and FinishedLastHour count its tasks that
	// finished in the last minute and hour (JETRUN_INDEX).
	FinishedLastMinute, FinishedLastHour uint64
}

// Queued is Stored less Running: the tasks waiting for a worker.
func (q Queue) Queued() uint64 {
	if uint64(q.Running) >= q.Stored {
		return 0
	}
	return q.Stored - uint64(q.Running)
}

// Queues returns every queue that holds tasks, has a live worker or has
// had one (its consumer on JETRUN_TASKS), ordered by name, with its counts
// (a few direct gets per queue). Without the workers bucket, Running and Workers are
// empty.
func (c *Client) Queues(ctx context.Context) ([]Queue, error) {
	st, err := c.js.Stream(ctx, messages.TasksStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("queues: %w", ErrNoTaskStream)
	}
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(c.subj.AllTasks()))
	if err != nil {
		return nil, fmt.Errorf("queues: %w", err)
	}
	byName := map[string]*Queue{}
	get := func(name string) *Queue {
		q, ok := byName[name]
		if !ok {
			q = &Queue{Name: name}
			byName[name] = q
		}
		return q
	}
	prefix := strings.TrimSuffix(c.subj.AllTasks(), ">")
	for subject, n := range info.State.Subjects {
		if name, ok := strings.CutPrefix(subject, prefix); ok && messages.ValidQueue(name) == nil {
			get(name).Stored += n
		}
	}
	workers, err := c.Workers(ctx)
	if err != nil && !errors.Is(err, ErrNoWorkersBucket) {
		return nil, err
	}
	for _, w := range workers {
		q := get(w.Queue)
		q.Workers = append(q.Workers, w.ID)
		q.Slots += w.Concurrency
		q.Running += len(w.Running)
	}
	if err := c.queuesFinished(ctx, get); err != nil {
		return nil, err
	}
	out := make([]Queue, 0, len(byName))
	for _, q := range byName {
		if err := c.queueCounts(ctx, q); err != nil {
			return nil, err
		}
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b Queue) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// queuesFinished adds the queues whose consumer exists on JETRUN_TASKS
// (jetrun-<queue>, made by its first worker and kept when they stop), so
// that a queue with only finished tasks is listed too.
func (c *Client) queuesFinished(ctx context.Context, get func(string) *Queue) error {
	st, err := c.js.Stream(ctx, messages.TasksStream)
	if err != nil {
		return fmt.Errorf("queues: %w", err)
	}
	names := st.ConsumerNames(ctx)
	for name := range names.Name() {
		if q, ok := strings.CutPrefix(name, messages.ConsumerName("")); ok && messages.ValidQueue(q) == nil {
			get(q)
		}
	}
	if err := names.Err(); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("queues: %w", err)
	}
	return nil
}

// queueCounts fills in q's consumer state and its counts of dead letters,
// failed and recently finished tasks: one direct get each.
func (c *Client) queueCounts(ctx context.Context, q *Queue) error {
	if cons, err := c.js.Consumer(ctx, messages.TasksStream, messages.ConsumerName(q.Name)); err == nil {
		info := cons.CachedInfo()
		q.InFlight, q.Redelivered = uint64(info.NumAckPending), uint64(info.NumRedelivered)
	}
	now := time.Now()
	counts := []struct {
		n      *uint64
		stream string
		filter string
		since  time.Time
	}{
		{&q.Dead, messages.DeadStream, c.subj.DeadFilter(q.Name, ""), time.Time{}},
		{&q.Failed, messages.IndexStream, c.subj.IndexFilter(messages.TaskFailed, q.Name, ""), time.Time{}},
		{&q.FinishedLastMinute, messages.IndexStream, c.subj.IndexFilter("", q.Name, ""), now.Add(-time.Minute)},
		{&q.FinishedLastHour, messages.IndexStream, c.subj.IndexFilter("", q.Name, ""), now.Add(-time.Hour)},
	}
	for _, k := range counts {
		n, err := c.direct.Count(ctx, k.stream, k.filter, k.since)
		if err != nil && !errors.Is(err, jsdirect.ErrNoStream) {
			return fmt.Errorf("queue %s: %w", q.Name, err)
		}
		*k.n = n
	}
	return nil
}

// Finished counts the tasks of queue (empty: every queue) that finished in
// each of the last steps periods of length step, oldest first, the last
// ending now: Finished(ctx, q, 60, time.Minute) is "finished per minute
// over the last hour". Each period costs one direct get.
func (c *Client) Finished(ctx context.Context, queue string, steps int, step time.Duration) ([]uint64, error) {
	if step <= 0 || steps <= 0 || steps > 1440 {
		return nil, fmt.Errorf("finished: %w: %d steps of %v (want 1 to 1440 steps of a positive length)", ErrInvalidOption, steps, step)
	}
	if queue != "" && messages.ValidQueue(queue) != nil {
		return nil, fmt.Errorf("finished: %w: %v", ErrInvalidOption, messages.ValidQueue(queue))
	}
	filter := c.subj.IndexFilter("", queue, "")
	now := time.Now()
	marks := make([]uint64, steps+1) // tasks finished at or after each step's start; the last is 0
	for i := range steps {
		n, err := c.direct.Count(ctx, messages.IndexStream, filter, now.Add(-time.Duration(steps-i)*step))
		if errors.Is(err, jsdirect.ErrNoStream) {
			n, err = 0, nil
		}
		if err != nil {
			return nil, fmt.Errorf("finished: %w", err)
		}
		marks[i] = n
	}
	out := make([]uint64, steps)
	for i := range out {
		if marks[i] > marks[i+1] {
			out[i] = marks[i] - marks[i+1]
		}
	}
	return out, nil
}
