package client

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// Submit validates t, publishes it to P.tasks.<queue> with header
// Nats-Msg-Id set to its id, waits for JetStream's acknowledgement, and
// returns a Handle that follows it. It subscribes to the task's events
// before publishing, so none is missed. ctx bounds the submit only; the
// handle lives until its result arrives or it is closed.
//
// A task whose id was already published within the stream's duplicate
// window is not published again: Submit succeeds and Handle.Ack reports
// Duplicate, and the handle follows the task first submitted.
//
// Errors: ErrInvalidTask (with a *messages.ValidationError naming the
// field), ErrNoTaskStream when no worker ever created JETRUN_TASKS,
// ErrPublishTimeout when the acknowledgement did not come in time.
func (c *Client) Submit(ctx context.Context, t *messages.Task) (*Handle, error) {
	data, err := c.encode(ctx, t)
	if err != nil {
		return nil, err
	}
	h := newHandle(c, t)
	h.sub, err = c.nc.Subscribe(h.reply+".>", h.onMsg)
	if err != nil {
		return nil, fmt.Errorf("submit task %s: subscribe %s.>: %w", t.ID, h.reply, err)
	}
	ack, err := c.publish(ctx, c.taskMsg(t.ID, data))
	if err != nil {
		_ = h.sub.Unsubscribe()
		return nil, fmt.Errorf("submit task %s: %w", t.ID, err)
	}
	h.ack = ack
	wctx, stop := context.WithCancel(context.Background())
	h.stopWatch = stop
	go h.watch(wctx, c.nc.StatusChanged(nats.CONNECTED, nats.CLOSED))
	return h, nil
}

// Run submits t, waits for its result and stops following it. The task's
// events are not delivered; use Submit to see them. If ctx ends first the
// task keeps running: cancel it with Cancel if it should not.
func (c *Client) Run(ctx context.Context, t *messages.Task) (*messages.Result, error) {
	h, err := c.Submit(ctx, t)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	return h.Result(ctx)
}

// encode validates and encodes t, and checks that it fits in a message.
func (c *Client) encode(ctx context.Context, t *messages.Task) ([]byte, error) {
	if t == nil {
		return nil, fmt.Errorf("submit: %w", &messages.ValidationError{Field: "task", Reason: "nil"})
	}
	if err := c.subj.ValidateTask(t); err != nil {
		return nil, fmt.Errorf("submit task %q: %w", t.ID, err)
	}
	data, err := messages.Encode(t)
	if err != nil {
		return nil, fmt.Errorf("submit task %q: encode: %w", t.ID, err)
	}
	if err := c.checkSize(ctx, t, len(data)); err != nil {
		return nil, fmt.Errorf("submit task %q: %w", t.ID, err)
	}
	return data, nil
}

func (c *Client) taskMsg(id string, data []byte) *nats.Msg {
	return &nats.Msg{
		Subject: c.subj.Task(c.opts.queue),
		Data:    data,
		Header:  nats.Header{messages.MsgIDHeader: []string{messages.TaskMsgID(id)}},
	}
}

// publish publishes a task message through JetStream and waits for the
// acknowledgement, at most the publish timeout.
func (c *Client) publish(ctx context.Context, m *nats.Msg) (Ack, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.publishTimeout)
	defer cancel()
	pa, err := c.js.PublishMsg(ctx, m, jetstream.WithExpectStream(messages.TasksStream))
	if err != nil {
		return Ack{}, classifyPublish(err)
	}
	return ackOf(pa), nil
}

func ackOf(pa *jetstream.PubAck) Ack {
	return Ack{Stream: pa.Stream, Sequence: pa.Sequence, Duplicate: pa.Duplicate}
}
