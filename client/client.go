package client

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/messages"
)

// Client submits tasks to jetrun workers and follows them. It is safe for
// concurrent use. It owns no connection: closing the *nats.Conn it was
// made from ends it.
type Client struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	subj messages.Subjects
	opts options

	// Asynchronous publishes: slots bounds them, inflight maps each
	// published message to its Pending.
	slots    chan struct{}
	inflight sync.Map // *nats.Msg -> *Pending

	direct *jsdirect.Reader // batched direct gets (the inventory)

	events  streamCache // JETRUN_EVENTS
	results streamCache // JETRUN_RESULTS

	cancelsFound atomic.Bool // JETRUN_CANCELS exists

	tasksMu     sync.Mutex
	tasksMaxMsg int // JETRUN_TASKS's max message size: 0 unknown, -1 none
}

// New returns a Client that talks over nc. It starts no goroutine and sends
// nothing: a missing stream is reported by the first call that needs it.
func New(nc *nats.Conn, opts ...Option) (*Client, error) {
	if nc == nil {
		return nil, fmt.Errorf("%w: nil *nats.Conn", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	c := &Client{
		nc:     nc,
		subj:   messages.NewSubjects(o.prefix),
		opts:   o,
		slots:  make(chan struct{}, o.maxPending),
		direct: jsdirect.New(nc),
	}
	c.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(o.maxPending),
		jetstream.WithPublishAsyncTimeout(o.publishTimeout),
		jetstream.WithPublishAsyncAckHandler(c.onAsyncAck),
		jetstream.WithPublishAsyncErrHandler(c.onAsyncErr),
	)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return c, nil
}

// Prefix returns the subject prefix P the client uses.
func (c *Client) Prefix() string { return c.subj.Prefix }

// Queue returns the queue the client submits to.
func (c *Client) Queue() string { return c.opts.queue }

// Cancel asks for task id to be cancelled, with reason copied into its
// result's error. A cancel sent before any worker picked the task up still
// applies: it is published through JetStream (and acknowledged) when the
// JETRUN_CANCELS stream exists, and as a plain publish that only running
// workers see when it does not. Cancelling a finished or unknown task is
// not an error; it has no effect.
func (c *Client) Cancel(ctx context.Context, id, reason string) error {
	cm := &messages.Cancel{ID: id, Reason: reason}
	if err := cm.Validate(); err != nil {
		return fmt.Errorf("cancel %q: %w", id, err)
	}
	data, err := messages.Encode(cm)
	if err != nil {
		return fmt.Errorf("cancel %s: encode: %w", id, err)
	}
	pctx, stop := context.WithTimeout(ctx, c.opts.publishTimeout)
	defer stop()
	msg := &nats.Msg{Subject: c.subj.Cancel(id), Data: data}
	stored, err := c.hasCancelStream(pctx)
	switch {
	case err != nil:
	case stored:
		_, err = c.js.PublishMsg(pctx, msg, jetstream.WithExpectStream(messages.CancelsStream))
	default:
		// No JETRUN_CANCELS (no worker started yet, or workers older than
		// it): running workers still hear a plain publish.
		if err = c.nc.PublishMsg(msg); err == nil {
			err = c.nc.FlushWithContext(pctx)
		}
	}
	if err != nil {
		return fmt.Errorf("cancel %s: %w", id, classifyPublish(err))
	}
	return nil
}

// classifyPublish wraps a publish error with the sentinel a producer acts
// on, keeping the cause in the chain.
func classifyPublish(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrNoStreamResponse):
		return fmt.Errorf("%w: %w", ErrNoTaskStream, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, jetstream.ErrAsyncPublishTimeout):
		return fmt.Errorf("%w: %w", ErrPublishTimeout, err)
	}
	return err
}

// hasCancelStream reports whether JETRUN_CANCELS exists; once it has been
// seen it is not asked again (workers do not delete it).
func (c *Client) hasCancelStream(ctx context.Context) (bool, error) {
	if c.cancelsFound.Load() {
		return true, nil
	}
	_, err := c.js.Stream(ctx, messages.CancelsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up stream %s: %w", messages.CancelsStream, err)
	}
	c.cancelsFound.Store(true)
	return true, nil
}

// streamCache holds a stream's handle once it has been found.
type streamCache struct {
	mu sync.Mutex
	s  jetstream.Stream
}

// get returns stream name, looked up until found; jetstream.ErrStreamNotFound
// when it does not exist.
func (sc *streamCache) get(ctx context.Context, js jetstream.JetStream, name string) (jetstream.Stream, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.s != nil {
		return sc.s, nil
	}
	s, err := js.Stream(ctx, name)
	if err != nil {
		return nil, err
	}
	sc.s = s
	return s, nil
}

// eventStream returns the JETRUN_EVENTS stream, looked up once.
func (c *Client) eventStream(ctx context.Context) (jetstream.Stream, error) {
	s, err := c.events.get(ctx, c.js, messages.EventsStream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: stream %s not found", ErrNoEventStream, messages.EventsStream)
	}
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", messages.EventsStream, err)
	}
	return s, nil
}

// lastEvent returns the last message stored on subject in JETRUN_EVENTS,
// or nil when there is none.
func (c *Client) lastEvent(ctx context.Context, subject string) (*jetstream.RawStreamMsg, error) {
	s, err := c.eventStream(ctx)
	if err != nil {
		return nil, err
	}
	return lastMsg(ctx, s, subject)
}

// storedResult returns the stored result of task id, or nil when there is
// none: P.results.<id> in JETRUN_RESULTS, or else, when inEvents (the
// task's reply prefix is P.events.<id>), R.result in JETRUN_EVENTS, where
// workers without JETRUN_RESULTS store it.
func (c *Client) storedResult(ctx context.Context, id string, inEvents bool) (*jetstream.RawStreamMsg, error) {
	s, err := c.results.get(ctx, c.js, messages.ResultsStream)
	switch {
	case err == nil:
		m, err := lastMsg(ctx, s, c.subj.StoredResult(id))
		if m != nil || err != nil || !inEvents {
			return m, err
		}
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, fmt.Errorf("look up stream %s: %w", messages.ResultsStream, err)
	case !inEvents:
		return nil, nil
	}
	return c.lastEvent(ctx, messages.ResultSubject(c.subj.Events(id)))
}

// lastMsg returns the last message stored on subject in s, or nil when
// there is none.
func lastMsg(ctx context.Context, s jetstream.Stream, subject string) (*jetstream.RawStreamMsg, error) {
	m, err := s.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", subject, err)
	}
	return m, nil
}
