package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

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
}

// Queued is Stored less Running: the tasks waiting for a worker.
func (q Queue) Queued() uint64 {
	if uint64(q.Running) >= q.Stored {
		return 0
	}
	return q.Stored - uint64(q.Running)
}

// Queues returns every queue that holds tasks or has a live worker,
// ordered by name. Without the workers bucket, Running and Workers are
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
	out := make([]Queue, 0, len(byName))
	for _, q := range byName {
		out = append(out, *q)
	}
	slices.SortFunc(out, func(a, b Queue) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}
