package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/messages"
)

// Event is one status, log or stat event of a task, in the order the worker
// published it. Exactly one field is set.
type Event struct {
	Status *messages.Status
	Log    *messages.Log
	Stat   *messages.Stat
}

// Ack is JetStream's acknowledgement of a submitted task.
type Ack struct {
	// Stream and Sequence locate the task message in JETRUN_TASKS.
	Stream   string
	Sequence uint64
	// Duplicate is true when a task with the same id was already published
	// within the stream's duplicate window: this publish was discarded and
	// the task runs once, as first submitted.
	Duplicate bool
}

// Handle follows one submitted task: its live events, its result, and
// cancelling it. Close it when done; it is safe for concurrent use.
//
// Events are delivered on a bounded channel (Events). A reader that falls
// behind loses status, log and stat events once the buffer is full (they
// are counted by Dropped, and a gap in messages.Log.Seq shows where), but
// never the result: Result keeps it, however late it is asked for. The
// complete log of a task whose reply prefix lies under P.events can always
// be replayed with Client.Logs.
type Handle struct {
	c      *Client
	id     string
	reply  string
	stored bool // the reply prefix lies under P.events: the result is kept in JETRUN_EVENTS
	ack    Ack
	sub    *nats.Subscription
	// stopWatch ends watch and any check it is making.
	stopWatch context.CancelFunc
	// foreignSeq is the stream sequence of the last stored result of
	// another task that watch skipped.
	foreignSeq uint64

	events     chan Event
	done       chan struct{} // closed once the result (or why there is none) is known
	closing    chan struct{} // closed by Close
	dropped    atomic.Uint64
	mismatched atomic.Uint64

	mu           sync.Mutex
	result       *messages.Result
	resultErr    error
	eventsClosed bool
	closed       bool
	warnedDrop   bool
}

func newHandle(c *Client, t *messages.Task) *Handle {
	reply := c.subj.Reply(t)
	return &Handle{
		c:       c,
		id:      t.ID,
		reply:   reply,
		stored:  c.subj.Stored(t.ID, t.Reply),
		events:  make(chan Event, c.opts.eventBuffer),
		done:    make(chan struct{}),
		closing: make(chan struct{}),
	}
}

// ID returns the task id.
func (h *Handle) ID() string { return h.id }

// Reply returns the task's reply prefix R: its events are published to
// R.status, R.log, R.stat and R.result.
func (h *Handle) Reply() string { return h.reply }

// Ack returns JetStream's acknowledgement of the submit, including whether
// it was a duplicate.
func (h *Handle) Ack() Ack { return h.ack }

// Events returns the task's status, log and stat events, in order. The
// channel is closed once the result is known (after the events before it)
// or the handle is closed. Receive from it promptly: see Handle.
func (h *Handle) Events() <-chan Event { return h.events }

// Dropped returns how many events were dropped because the Events buffer
// was full, or could not be decoded.
func (h *Handle) Dropped() uint64 { return h.dropped.Load() }

// Mismatched returns how many events and results read for this task
// carried another task's id: they were skipped, never delivered or
// returned as this task's. Only a publisher that may write on the task's
// reply subjects (another task whose reply prefix names them, a
// misconfigured worker) produces them.
func (h *Handle) Mismatched() uint64 { return h.mismatched.Load() }

// Done returns a channel closed once Result will return without waiting.
func (h *Handle) Done() <-chan struct{} { return h.done }

// Result waits for the task's final result and returns it, however long
// ago it arrived. A task that failed is a Result with a non-success Status,
// not an error; an error means the result could not be obtained: ctx ended
// (the error wraps ctx's), the handle was closed first (ErrClosed), the
// connection closed, or the result could not be decoded.
//
// When the reply prefix lies under P.events, a result the live subscription
// missed (during a reconnect, or published before a duplicate submit) is
// read from JETRUN_EVENTS.
func (h *Handle) Result(ctx context.Context) (*messages.Result, error) {
	select {
	case <-h.done:
		return h.known()
	default:
	}
	select {
	case <-h.done:
		return h.known()
	case <-h.closing:
		select {
		case <-h.done:
			return h.known()
		default:
		}
		return nil, fmt.Errorf("result of task %s: %w", h.id, ErrClosed)
	case <-ctx.Done():
		return nil, fmt.Errorf("result of task %s: %w", h.id, context.Cause(ctx))
	}
}

// Cancel asks for the task to be cancelled; see Client.Cancel.
func (h *Handle) Cancel(ctx context.Context, reason string) error {
	return h.c.Cancel(ctx, h.id, reason)
}

// Close stops following the task: it unsubscribes, closes Events and ends
// the handle's background check. It does not cancel the task. Calling it
// more than once is safe.
func (h *Handle) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	close(h.closing)
	h.stopWatch()
	h.closeEventsLocked()
	h.mu.Unlock()
	return h.unsubscribe()
}

func (h *Handle) unsubscribe() error {
	if h.sub == nil {
		return nil
	}
	err := h.sub.Unsubscribe()
	if errors.Is(err, nats.ErrBadSubscription) || errors.Is(err, nats.ErrConnectionClosed) {
		return nil
	}
	return err
}

func (h *Handle) known() (*messages.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.result, h.resultErr
}

func (h *Handle) closeEventsLocked() {
	if !h.eventsClosed {
		h.eventsClosed = true
		close(h.events)
	}
}

// finish records the result (or why there is none) once; later calls do
// nothing.
func (h *Handle) finish(res *messages.Result, err error) {
	h.mu.Lock()
	select {
	case <-h.done:
		h.mu.Unlock()
		return
	default:
	}
	h.result, h.resultErr = res, err
	close(h.done)
	h.closeEventsLocked()
	h.mu.Unlock()
	// No event follows the result: free the subscription now.
	if err := h.unsubscribe(); err != nil {
		h.c.opts.logger.Debug("unsubscribe after result", "task", h.id, "err", err)
	}
}

// onMsg is the live subscription's handler. It never blocks, so a slow
// reader cannot make the NATS connection drop messages (the result among
// them).
func (h *Handle) onMsg(m *nats.Msg) {
	kind, ok := strings.CutPrefix(m.Subject, h.reply+".")
	if !ok {
		return
	}
	var ev Event
	var err error
	var id string
	switch kind {
	case "result":
		res, err := messages.DecodeResult(m.Data)
		if err != nil {
			h.finish(nil, fmt.Errorf("result of task %s: %w", h.id, err))
			return
		}
		if h.foreign(res.ID, m.Subject) {
			return
		}
		h.finish(res, nil)
		return
	case "status":
		if ev.Status, err = messages.DecodeStatus(m.Data); err == nil {
			id = ev.Status.ID
		}
	case "log":
		if ev.Log, err = messages.DecodeLog(m.Data); err == nil {
			id = ev.Log.ID
		}
	case "stat":
		if ev.Stat, err = messages.DecodeStat(m.Data); err == nil {
			id = ev.Stat.ID
		}
	default:
		return
	}
	if err != nil {
		h.dropped.Add(1)
		h.c.opts.logger.Warn("undecodable event dropped", "task", h.id, "subject", m.Subject, "err", err)
		return
	}
	if h.foreign(id, m.Subject) {
		return
	}
	h.deliver(ev)
}

// foreign reports whether id, read on subject, is another task's, and
// counts it.
func (h *Handle) foreign(id, subject string) bool {
	if id == h.id {
		return false
	}
	h.mismatched.Add(1)
	h.c.opts.logger.Warn("event of another task skipped", "task", h.id, "subject", subject, "id", id)
	return true
}

func (h *Handle) deliver(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.eventsClosed {
		return
	}
	select {
	case h.events <- ev:
	default:
		h.dropped.Add(1)
		if !h.warnedDrop {
			h.warnedDrop = true
			h.c.opts.logger.Warn("event reader too slow: dropping events", "task", h.id, "buffer", cap(h.events))
		}
	}
}

// watch ends the handle when the connection closes and reads the stored
// result (JETRUN_RESULTS, whatever the reply prefix, or JETRUN_EVENTS):
// once at the start (a duplicate or resubmitted task may have finished
// already), after every reconnect (the live subscription may have missed
// it), and every poll interval. It returns when the result is known or the
// handle is closed.
func (h *Handle) watch(ctx context.Context, status chan nats.Status) {
	defer h.c.nc.RemoveStatusListener(status)
	t := time.NewTicker(h.c.opts.pollInterval)
	defer t.Stop()
	h.checkStored(ctx)
	for {
		select {
		case <-h.done:
			return
		case <-h.closing:
			return
		case s := <-status:
			if s == nats.CLOSED {
				h.finish(nil, fmt.Errorf("result of task %s: %w", h.id, nats.ErrConnectionClosed))
				return
			}
			h.checkStored(ctx)
		case <-t.C:
			h.checkStored(ctx)
		}
	}
}

// checkStored finishes the handle with the stored result (JETRUN_RESULTS,
// or JETRUN_EVENTS), if there is one. Failures are logged and retried at the next check: the
// live subscription may still deliver.
func (h *Handle) checkStored(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, h.c.opts.publishTimeout)
	defer cancel()
	m, err := h.c.storedResult(ctx, h.id, h.stored)
	if err != nil {
		h.c.opts.logger.Debug("read stored result", "task", h.id, "err", err)
		return
	}
	if m == nil {
		return
	}
	res, err := messages.DecodeResult(m.Data)
	if err != nil {
		h.finish(nil, fmt.Errorf("result of task %s: %w", h.id, err))
		return
	}
	if res.ID != h.id {
		// Read again at every check: counted once.
		if m.Sequence != h.foreignSeq {
			h.foreignSeq = m.Sequence
			h.foreign(res.ID, m.Subject)
		}
		return
	}
	h.awaitIndexed(ctx)
	h.finish(res, nil)
}

// indexGrace bounds how long a handle that found its result stored waits
// for the task's index record, which its worker writes a moment later.
const indexGrace = time.Second

// awaitIndexed waits, at most indexGrace, until JETRUN_INDEX lists the
// task or the live result arrives (which its worker publishes after the
// index record): a result read from JETRUN_RESULTS can be a moment ahead
// of the inventory, and a caller that lists tasks once Result returns
// must find this one. Workers older than the index make it wait the
// grace once.
func (h *Handle) awaitIndexed(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, indexGrace)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		m, err := h.c.direct.Last(ctx, messages.IndexStream, h.c.subj.IndexFilter("", "", h.id))
		if m != nil || errors.Is(err, jsdirect.ErrNoStream) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-h.done:
			return
		case <-t.C:
		}
	}
}
