package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// TaskStatus is what JETRUN_RESULTS and JETRUN_EVENTS know about a task.
type TaskStatus struct {
	// Status is the latest lifecycle event; nil when none is stored.
	Status *messages.Status
	// Result is the final result; nil while the task has not finished.
	Result *messages.Result
}

// Done reports whether the task has finished.
func (s TaskStatus) Done() bool { return s.Result != nil }

// Status returns the latest status and, once the task has finished, its
// result. The result is read from JETRUN_RESULTS, which keeps it for its
// retention (7 days by default) whatever the task's reply prefix, and
// otherwise from JETRUN_EVENTS; the status from JETRUN_EVENTS, which only
// knows tasks submitted without a custom reply prefix (their events go to
// P.events.<id>). It returns ErrNotFound when nothing is stored for id
// (not picked up yet, never submitted, or expired) and ErrNoEventStream
// when JETRUN_EVENTS is missing.
// A stored event that carries another task's id is not id's: it is
// skipped, as if nothing were stored.
// The stream stores an event a moment after live subscribers (a Handle)
// see it: to read a result that must be stored, follow Logs to its end.
func (c *Client) Status(ctx context.Context, id string) (TaskStatus, error) {
	if err := messages.CheckID(id); err != nil {
		return TaskStatus{}, fmt.Errorf("status: %w", err)
	}
	reply := c.subj.Events(id)
	var st TaskStatus
	var err error
	if st.Result, err = c.result(ctx, id); err != nil {
		return st, fmt.Errorf("status of task %s: %w", id, err)
	}
	m, err := c.lastEvent(ctx, messages.StatusSubject(reply))
	if err != nil {
		return st, fmt.Errorf("status of task %s: %w", id, err)
	}
	if m != nil {
		if st.Status, err = messages.DecodeStatus(m.Data); err != nil {
			return st, fmt.Errorf("status of task %s: %w", id, err)
		}
		if c.foreign(id, st.Status.ID, m.Subject) {
			st.Status = nil
		}
	}
	if st.Status == nil && st.Result == nil {
		return st, fmt.Errorf("status of task %s: %w", id, ErrNotFound)
	}
	return st, nil
}

// result returns task id's stored result (JETRUN_RESULTS, then
// JETRUN_EVENTS), or nil when none is stored; one that carries another
// task's id is skipped.
func (c *Client) result(ctx context.Context, id string) (*messages.Result, error) {
	m, err := c.storedResult(ctx, id, true)
	if err != nil || m == nil {
		return nil, err
	}
	r, err := messages.DecodeResult(m.Data)
	if err != nil {
		return nil, err
	}
	if c.foreign(id, r.ID, m.Subject) {
		return nil, nil
	}
	return r, nil
}

// foreign reports whether got, the id of an event read on subject for
// task want, is another task's, and says so in the log.
func (c *Client) foreign(want, got, subject string) bool {
	if got == want {
		return false
	}
	c.opts.logger.Warn("event of another task skipped", "task", want, "subject", subject, "id", got)
	return true
}

// Logs replays the output of task id from JETRUN_EVENTS, calling fn for
// each chunk in the order it was published (stdout and stderr interleaved;
// a retried task's chunks carry their Attempt). Without follow it returns
// once the stored chunks are replayed; with follow it keeps delivering new
// ones until the task's result is stored, then returns nil. It also
// returns when the result is stored, or when fn returns an error (that
// error), or ctx ends (ctx's error). A task with no stored output is not an
// error: fn is not called. It knows tasks submitted without a custom reply
// prefix. Chunks and results that carry another task's id are skipped.
func (c *Client) Logs(ctx context.Context, id string, follow bool, fn func(*messages.Log) error) error {
	_, err := c.replay(ctx, id, follow, fn)
	return err
}

// replay is Logs, also returning how many events of another task it
// skipped.
func (c *Client) replay(ctx context.Context, id string, follow bool, fn func(*messages.Log) error) (skipped uint64, err error) {
	if err := messages.CheckID(id); err != nil {
		return 0, fmt.Errorf("logs: %w", err)
	}
	if _, err := c.eventStream(ctx); err != nil {
		return 0, fmt.Errorf("logs of task %s: %w", id, err)
	}
	reply := c.subj.Events(id)
	logSubj, resultSubj := messages.LogSubject(reply), messages.ResultSubject(reply)
	cons, err := c.js.OrderedConsumer(ctx, messages.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{logSubj, resultSubj},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return 0, fmt.Errorf("logs of task %s: consumer: %w", id, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return 0, fmt.Errorf("logs of task %s: consumer: %w", id, err)
	}
	defer it.Stop()
	if info := cons.CachedInfo(); !follow && info != nil && info.NumPending == 0 {
		return 0, nil
	}
	for {
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			if ctx.Err() != nil {
				return skipped, fmt.Errorf("logs of task %s: %w", id, context.Cause(ctx))
			}
			return skipped, fmt.Errorf("logs of task %s: %w", id, err)
		}
		if m.Subject() == resultSubj {
			res, err := messages.DecodeResult(m.Data())
			if err != nil {
				return skipped, fmt.Errorf("logs of task %s: %w", id, err)
			}
			if !c.foreign(id, res.ID, m.Subject()) {
				return skipped, nil
			}
			skipped++
		} else if l, err := messages.DecodeLog(m.Data()); err != nil {
			c.opts.logger.Warn("undecodable log chunk skipped", "task", id, "err", err)
		} else if c.foreign(id, l.ID, m.Subject()) {
			skipped++
		} else if err := fn(l); err != nil {
			return skipped, err
		}
		if !follow {
			if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
				return skipped, nil
			}
		}
	}
}

// WatchResults calls fn with every result published under P.events from
// now on (tasks submitted without a custom reply prefix), until the
// returned stop function is called. It is the companion of SubmitAsync: a
// producer that fires many tasks starts watching first, then submits. fn
// runs on one goroutine, in arrival order. Delivery is live and at most
// once: results published while disconnected, or beyond NATS's pending
// limits for a fn that falls far behind (512k results or 64 MiB), are not
// seen; Status still finds them. A result whose id is not the one its
// subject names is skipped.
func (c *Client) WatchResults(fn func(*messages.Result)) (stop func() error, err error) {
	sub, err := c.nc.Subscribe(c.subj.AllResults(), func(m *nats.Msg) {
		res, err := messages.DecodeResult(m.Data)
		if err != nil {
			c.opts.logger.Warn("undecodable result skipped", "subject", m.Subject, "err", err)
			return
		}
		// P.events.<id>.result carries task <id>'s result only.
		id, _ := c.subj.ResultTask(m.Subject)
		if c.foreign(id, res.ID, m.Subject) {
			return
		}
		fn(res)
	})
	if err != nil {
		return nil, fmt.Errorf("watch results: %w", err)
	}
	return func() error {
		err := sub.Unsubscribe()
		if errors.Is(err, nats.ErrBadSubscription) || errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return err
	}, nil
}
