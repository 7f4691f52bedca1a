package client

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// Pending is an asynchronous submit whose acknowledgement may not have
// arrived yet.
type Pending struct {
	id   string
	done chan struct{}

	once sync.Once
	ack  Ack
	err  error
}

// ID returns the task id.
func (p *Pending) ID() string { return p.id }

// Done returns a channel closed once the publish is acknowledged or has
// failed.
func (p *Pending) Done() <-chan struct{} { return p.done }

// Err returns why the publish failed, nil if it succeeded or has not
// finished yet (see Done). It wraps ErrNoTaskStream, ErrPublishTimeout, or
// nats.ErrDisconnected when the connection dropped with the publish in
// flight; in every case submitting the task again is safe.
func (p *Pending) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Wait waits for the acknowledgement and returns it, or why the publish
// failed, or ctx's error.
func (p *Pending) Wait(ctx context.Context) (Ack, error) {
	select {
	case <-p.done:
		return p.ack, p.err
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("submit task %s: %w", p.id, context.Cause(ctx))
	}
}

func (p *Pending) resolve(ack Ack, err error) {
	p.once.Do(func() {
		p.ack, p.err = ack, err
		close(p.done)
	})
}

// SubmitAsync validates t and publishes it like Submit, without waiting for
// the acknowledgement and without following the task: the path for
// producers that fire many tasks. At most MaxPending publishes are in
// flight per Client; SubmitAsync blocks while that many are, until one is
// acknowledged or ctx ends. The returned Pending tells how this task's
// publish ended. An error from SubmitAsync itself means the task was not
// published (ErrInvalidTask, ctx ended, connection closed).
//
// To learn results, watch them (WatchResults) before submitting, or look
// them up by id later (Status).
func (c *Client) SubmitAsync(ctx context.Context, t *messages.Task) (*Pending, error) {
	data, err := c.encode(ctx, t)
	if err != nil {
		return nil, err
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("submit task %s: wait for a publish slot: %w", t.ID, context.Cause(ctx))
	}
	p := &Pending{id: t.ID, done: make(chan struct{})}
	m := c.taskMsg(t.ID, data)
	// Registered before publishing: the ack may come before PublishMsgAsync
	// returns.
	c.inflight.Store(m, p)
	if _, err := c.js.PublishMsgAsync(m, jetstream.WithExpectStream(messages.TasksStream)); err != nil {
		c.inflight.Delete(m)
		<-c.slots
		return nil, fmt.Errorf("submit task %s: %w", t.ID, classifyPublish(err))
	}
	return p, nil
}

// Flush waits until every asynchronous publish made before it has been
// acknowledged or has failed. SubmitAsync calls made meanwhile wait for it.
func (c *Client) Flush(ctx context.Context) error {
	n := 0
	defer func() {
		for range n {
			<-c.slots
		}
	}()
	for n < cap(c.slots) {
		select {
		case c.slots <- struct{}{}:
			n++
		case <-ctx.Done():
			return fmt.Errorf("flush: publishes still pending: %w", context.Cause(ctx))
		}
	}
	return nil
}

func (c *Client) onAsyncAck(_ jetstream.JetStream, m *nats.Msg, pa *jetstream.PubAck) {
	c.resolveAsync(m, ackOf(pa), nil)
}

func (c *Client) onAsyncErr(_ jetstream.JetStream, m *nats.Msg, err error) {
	c.resolveAsync(m, Ack{}, err)
}

func (c *Client) resolveAsync(m *nats.Msg, ack Ack, err error) {
	v, ok := c.inflight.LoadAndDelete(m)
	if !ok {
		return
	}
	p := v.(*Pending)
	if err != nil {
		err = fmt.Errorf("submit task %s: %w", p.id, classifyPublish(err))
	}
	p.resolve(ack, err)
	<-c.slots
}
