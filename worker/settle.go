package worker

import (
	"context"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// settle carries out o, the one place a delivery ends: it stores o's result
// first, then acks, terminates or naks the message. A result that cannot be
// stored hands the task back instead, so it is not lost.
func (j *job) settle(ctx context.Context, o outcome) {
	if o.result != nil {
		r := o.result
		if r.Finished.IsZero() {
			r.Finished = time.Now().UTC()
		}
		r.Error = messages.Clip(r.Error, messages.MaxErrorLen)
		// A result is stored even while shutting down.
		if err := j.ev.result(context.WithoutCancel(ctx), r); err != nil {
			j.log.Error("result not stored; handing the task back", "err", err)
			o = requeue(KindResult, j.w.cfg.NakBaseDelay, err)
		} else {
			j.w.m.tasks.WithLabelValues(r.Status).Inc()
			j.log.Info("task finished", "status", r.Status, "exit_code", r.ExitCode, "error", r.Error)
		}
	}
	j.hbEnd()
	j.done = true
	switch o.settle {
	case settleAck:
		j.ack()
	case settleTerm:
		j.w.m.terminated.WithLabelValues(string(o.kind)).Inc()
		reason := o.reason
		if len(reason) > 1024 {
			reason = reason[:1024]
		}
		if err := j.msg.TermWithReason(reason); err != nil {
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

// ack waits for the server to confirm the ack (DoubleAck): only then is the
// slot free, so the server never counts more unacked tasks for this worker
// than it has slots.
func (j *job) ack() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.msg.DoubleAck(ctx); err != nil {
		j.log.Warn("ack", "err", err)
	}
}
