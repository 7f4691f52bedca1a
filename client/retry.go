package client

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/messages"
)

// Errors of Retry and Purge, checkable with errors.Is.
var (
	// ErrNotFinished means the task has no result yet: it is queued or
	// running, and a retry would run it twice.
	ErrNotFinished = errors.New("task has not finished")
	// ErrAlreadyRetried means the task's retry (messages.RetryID) exists:
	// retry that one instead.
	ErrAlreadyRetried = errors.New("task was already retried")
	// ErrNoSpec means no stream keeps the whole task any more: its dead
	// letter expired or was purged, or it succeeded with an input, which
	// only dead letters keep.
	ErrNoSpec = errors.New("task spec not kept")
	// ErrNotDead means the task has no dead letter to purge.
	ErrNotDead = errors.New("no dead letter for task")
)

// Retry submits finished task id again as a new task, messages.RetryID(id)
// (x, x-r1, x-r2 ...), with RetryOf set to id and the default reply
// prefix, from the spec JETRUN_DEAD keeps of every task that did not
// succeed (input included), or the one JETRUN_INDEX keeps of a task that
// succeeded without an input. It returns the new id. A task not finished
// yet gives ErrNotFinished, one retried before ErrAlreadyRetried (naming
// its retry), one whose spec is gone ErrNoSpec. The new task goes to the
// queue the first came from.
func (c *Client) Retry(ctx context.Context, id string) (string, error) {
	if err := messages.CheckID(id); err != nil {
		return "", fmt.Errorf("retry: %w", err)
	}
	d, err := c.inspect(ctx, id, inspectHow{})
	if err != nil {
		return "", fmt.Errorf("retry task %s: %w", id, err)
	}
	next, err := c.retry(ctx, d, nil)
	if err != nil {
		return "", fmt.Errorf("retry task %s: %w", id, err)
	}
	return next, nil
}

// retry submits d's retry; queued are the ids JETRUN_TASKS holds, or nil
// to look the retry's id up there.
func (c *Client) retry(ctx context.Context, d *TaskDetail, queued map[string]bool) (string, error) {
	if d.Result == nil && d.State != StateSucceeded && d.State != StateFailed && d.State != StateCancelled {
		return "", fmt.Errorf("%w: it is %s", ErrNotFinished, cmp.Or(string(d.State), "not known to have a result"))
	}
	next := messages.RetryID(d.ID)
	if n, err := c.inspect(ctx, next, inspectHow{queued: queued}); err == nil {
		return "", fmt.Errorf("%w as %s (%s): retry %s instead", ErrAlreadyRetried, next, cmp.Or(string(n.State), "known"), next)
	} else if !errors.Is(err, ErrUnknownTask) {
		return "", err
	}
	task, err := c.fullSpec(ctx, d)
	if err != nil {
		return "", err
	}
	task.ID, task.RetryOf, task.Reply = next, d.ID, ""
	data, err := c.encode(ctx, task)
	if err != nil {
		return "", err
	}
	msg := c.taskMsg(next, data)
	msg.Subject = c.subj.Task(cmp.Or(d.Queue, c.opts.queue))
	if _, err := c.publish(ctx, msg); err != nil {
		return "", err
	}
	return next, nil
}

// fullSpec returns task d's spec with its input: its dead letter's, or its
// index record's when it had no input.
func (c *Client) fullSpec(ctx context.Context, d *TaskDetail) (*messages.Task, error) {
	m, err := c.direct.Last(ctx, messages.DeadStream, c.subj.DeadFilter("", d.ID))
	if err != nil && !errors.Is(err, jsdirect.ErrNoStream) {
		return nil, err
	}
	if m != nil {
		t, err := messages.DecodeTask(m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: its dead letter is not a task message it could run (%v)", ErrNoSpec, err)
		}
		return t, nil
	}
	switch {
	case d.Spec != nil && d.InputBytes == 0 && len(d.Spec.Env) == 0:
		t := *d.Spec
		return &t, nil
	case d.Spec != nil:
		return nil, fmt.Errorf("%w: its input and env values are kept only in a dead letter, and it has none (it succeeded, or its dead letter expired or was purged)", ErrNoSpec)
	default:
		return nil, fmt.Errorf("%w: no dead letter or index record of it is left", ErrNoSpec)
	}
}

// RetryFilter selects dead letters for RetryAll and PurgeAll.
type RetryFilter struct {
	// Queue keeps one queue's; empty: all.
	Queue string
	// Since keeps those stored at or after it; zero: any.
	Since time.Time
	// Limit is the most to act on: DefaultListLimit when 0, at most
	// MaxListLimit.
	Limit int
}

// Retried is what RetryAll did with one dead letter.
type Retried struct {
	ID    string
	NewID string // empty when Err is set
	Err   error
}

// RetryAll retries the dead letters matching f, newest first, up to its
// limit, and says what happened to each: one already retried reports
// ErrAlreadyRetried and submits nothing, so running RetryAll twice
// retries each task once.
func (c *Client) RetryAll(ctx context.Context, f RetryFilter) ([]Retried, error) {
	page, err := c.List(ctx, ListOptions{Dead: true, Queue: f.Queue, Since: f.Since, Limit: f.Limit})
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	// One pass over the queue for every retry's "already retried?", not
	// one per task.
	queued, err := c.queuedIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("retry: %w", err)
	}
	out := make([]Retried, 0, len(page.Tasks))
	for _, s := range page.Tasks {
		r := Retried{ID: s.ID}
		d, err := c.inspect(ctx, s.ID, inspectHow{queued: queued})
		if err == nil {
			r.NewID, err = c.retry(ctx, d, queued)
		}
		if err != nil {
			r.Err = fmt.Errorf("retry task %s: %w", s.ID, err)
		} else {
			queued[r.NewID] = true
		}
		out = append(out, r)
		if ctx.Err() != nil {
			break
		}
	}
	return out, nil
}

// Purge removes task id's dead letter from JETRUN_DEAD, so it can no
// longer be retried. It counts the removal first
// (messages.Subjects.DeadPurgedCounter), so that the workers' metric of
// dead letters dropped by retention does not count it. No dead letter
// gives ErrNotDead.
func (c *Client) Purge(ctx context.Context, id string) error {
	if err := messages.CheckID(id); err != nil {
		return fmt.Errorf("purge: %w", err)
	}
	m, err := c.direct.Last(ctx, messages.DeadStream, c.subj.DeadFilter("", id))
	if err != nil {
		return fmt.Errorf("purge task %s: %w", id, err)
	}
	if m == nil {
		return fmt.Errorf("purge task %s: %w", id, ErrNotDead)
	}
	if err := c.purge(ctx, []uint64{m.Seq}); err != nil {
		return fmt.Errorf("purge task %s: %w", id, err)
	}
	return nil
}

// PurgeAll removes the dead letters matching f, newest first, up to its
// limit, and returns how many it removed.
func (c *Client) PurgeAll(ctx context.Context, f RetryFilter) (int, error) {
	page, err := c.List(ctx, ListOptions{Dead: true, Queue: f.Queue, Since: f.Since, Limit: f.Limit})
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	var subjects []string
	for _, s := range page.Tasks {
		subjects = append(subjects, c.subj.Dead(s.Queue, s.ID))
	}
	msgs, err := c.direct.LastOf(ctx, messages.DeadStream, subjects)
	if err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	var seqs []uint64
	for _, m := range msgs {
		seqs = append(seqs, m.Seq)
	}
	if len(seqs) == 0 {
		return 0, nil
	}
	if err := c.purge(ctx, seqs); err != nil {
		return 0, fmt.Errorf("purge: %w", err)
	}
	return len(seqs), nil
}

// purge counts then deletes the dead letters at seqs; those already gone
// (dropped by retention meanwhile) are counted back.
func (c *Client) purge(ctx context.Context, seqs []uint64) error {
	st, err := c.js.Stream(ctx, messages.DeadStream)
	if err != nil {
		return err
	}
	if err := c.countPurged(ctx, int64(len(seqs))); err != nil {
		return fmt.Errorf("count the purge in %s: %w", messages.CountersStream, err)
	}
	var gone int64
	var firstErr error
	for _, seq := range seqs {
		err := st.DeleteMsg(ctx, seq)
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrMsgNotFound) || isNotFound(err):
			gone++
		default:
			gone++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if gone > 0 {
		if err := c.countPurged(ctx, -gone); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return firstErr
}

func isNotFound(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeMessageNotFound
}

// countPurged adds n to the purge counter.
func (c *Client) countPurged(ctx context.Context, n int64) error {
	msg := &nats.Msg{Subject: c.subj.DeadPurgedCounter(), Header: nats.Header{}}
	msg.Header.Set("Nats-Incr", strconv.FormatInt(n, 10))
	// (A counter increment may carry no expectation header, not even the
	// stream's name.)
	_, err := c.js.PublishMsg(ctx, msg)
	return err
}
