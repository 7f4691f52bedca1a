package worker

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// termReasonLen bounds the reason a terminated message carries in the
// server's advisory.
const termReasonLen = 1024

// settle carries out o, the one place a delivery ends: it stores o's result
// first, then the inventory's records of it (record), then acks,
// terminates or naks the message. Storing the result and
// the ack are retried through an outage of JetStream for as long as ctx
// lasts, the lease kept by the heartbeat; a result still not stored when
// the worker stops hands the task back, so it is not lost.
func (j *job) settle(ctx context.Context, o outcome) {
	if o.result != nil {
		r := o.result
		if r.Finished.IsZero() {
			r.Finished = time.Now().UTC()
		}
		r.Error = messages.Clip(r.Error, messages.MaxErrorLen)
		// The inventory's records go between storing the result and
		// publishing it: whoever sees the result finds them.
		_, err := j.ev.result(ctx, r, func(stored *messages.Result) error { return j.record(ctx, stored) })
		if err == nil {
			j.w.m.tasks.WithLabelValues(r.Status).Inc()
			j.log.Info("task finished", "status", r.Status, "exit_code", r.ExitCode, "error", r.Error)
		}
		if err != nil {
			// The next delivery finds the stored result and writes what
			// is missing.
			j.log.Error("result or its records not stored; handing the task back", "err", err)
			o = requeue(KindResult, 0, err)
		}
	}
	j.done = true
	if o.settle != settleAck {
		j.hbEnd()
	}
	switch o.settle {
	case settleAck:
		j.ack(ctx)
		j.hbEnd()
	case settleTerm:
		j.w.m.terminated.WithLabelValues(string(o.kind)).Inc()
		if err := j.msg.TermWithReason(messages.Clip(o.reason, termReasonLen)); err != nil {
			j.log.Warn("terminate", "err", err)
		}
	case settleNak:
		j.w.m.requeued.WithLabelValues(string(o.kind)).Inc()
		j.log.Warn("task handed back", "reason", o.kind, "delay", o.delay, "err", o.reason)
		var err error
		if o.delay <= 0 {
			err = j.msg.Nak()
		} else {
			err = j.msg.NakWithDelay(o.delay)
		}
		if err != nil {
			j.log.Warn("nak", "err", err)
		}
	}
}

// ack waits for the server to confirm the ack (DoubleAck), retried while
// ctx lasts: only then is the slot free, so the server never counts more
// unacked tasks for this worker than it has slots. An ack never confirmed
// leaves the task to a redelivery, which finds its result and acks it.
func (j *job) ack(ctx context.Context) {
	err := j.w.retryNATS(ctx, j.log, "ack", func(ctx context.Context) error { return j.msg.DoubleAck(ctx) })
	if err != nil && !errors.Is(err, jetstream.ErrMsgAlreadyAckd) {
		j.log.Warn("ack not confirmed; the task's next delivery finds its result", "err", err)
	}
}
