package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// maxPendingAcks is how many async publishes of one task may wait for
// their acks before the publisher waits for the oldest.
const maxPendingAcks = 256

// events publishes one task attempt's events under its reply prefix R. When
// R is the task's own P.events.<id> they go to JetStream: log chunks asynchronously
// with acks (which pace a task's output to what the stream stores), status
// and stat as plain publishes that the stream captures (a few per task, at
// most one stat a second: an ack each would cost the server a message and
// the worker a future, for nothing it could act on), and the result synchronously with
// Nats-Msg-Id messages.ResultMsgID(id). Otherwise they are all plain NATS publishes.
// Calls are serialised and use one connection, so the server receives, and
// the stream stores, events in the order they were made, the result last.
type events struct {
	w        *Worker
	id       string
	reply    string
	attempt  int
	inStream bool
	log      *slog.Logger

	mu      sync.Mutex
	pending []jetstream.PubAckFuture
	failed  int
}

// newEvents publishes under reply; stored says the events stream holds it
// (messages.Admitted.Stored).
func (w *Worker) newEvents(id, reply string, stored bool, attempt int, log *slog.Logger) *events {
	return &events{w: w, id: id, reply: reply, attempt: attempt, log: log, inStream: stored}
}

// publish sends v to subject without waiting; errors are logged and counted,
// never returned: events other than the result are best effort.
func (e *events) publish(subject string, v any) { e.send(subject, v, e.inStream) }

// send publishes v to subject, through JetStream with an ack when acked.
func (e *events) send(subject string, v any, acked bool) {
	data, err := messages.Encode(v)
	if err != nil {
		e.log.Error("encode event", "subject", subject, "err", err)
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !acked {
		if err := e.w.nc.Publish(subject, data); err != nil {
			e.failed++
			e.log.Warn("publish event", "subject", subject, "err", err)
		}
		return
	}
	if len(e.pending) >= maxPendingAcks {
		e.waitLocked(e.pending[:maxPendingAcks/2], 5*time.Second)
		e.pending = append(e.pending[:0], e.pending[maxPendingAcks/2:]...)
	}
	f, err := e.w.js.PublishMsgAsync(&nats.Msg{Subject: subject, Data: data})
	if err != nil {
		e.failed++
		e.log.Warn("publish event", "subject", subject, "err", err)
		return
	}
	e.pending = append(e.pending, f)
}

func (e *events) waitLocked(fs []jetstream.PubAckFuture, within time.Duration) {
	timeout := time.NewTimer(within)
	defer timeout.Stop()
	for _, f := range fs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			e.failed++
			e.log.Warn("event not stored", "subject", f.Msg().Subject, "err", err)
		case <-timeout.C:
			e.log.Warn("events not acknowledged in time", "waiting", len(fs))
			return
		}
	}
}

// flush waits (bounded) until every event published so far is stored.
func (e *events) flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.inStream {
		if err := e.w.nc.FlushTimeout(5 * time.Second); err != nil {
			e.log.Warn("flush events", "err", err)
		}
		return
	}
	e.waitLocked(e.pending, 10*time.Second)
	e.pending = nil
}

func (e *events) status(state, detail string) {
	e.send(messages.StatusSubject(e.reply), &messages.Status{
		ID: e.id, State: state, Detail: detail, Worker: e.w.cfg.WorkerID, Attempt: e.attempt, Time: time.Now().UTC(),
	}, false)
}

// result flushes earlier events, stores r in JETRUN_RESULTS, calls record
// with the result stored, then publishes it on R.result (through
// JETRUN_EVENTS when R is stored there); it returns the result stored.
// Each step is retried (Worker.retryNATS) until it succeeds or ctx ends, so
// an outage delays a result but does not lose it; R.result is never
// published before the result is stored. When a result for this id is
// already stored, that one is published instead: there is exactly one
// result.
func (e *events) result(ctx context.Context, r *messages.Result, record func(*messages.Result) error) (*messages.Result, error) {
	e.flush()
	data, err := messages.Encode(r)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	stored := e.w.subj.StoredResult(e.id)
	err = e.w.retryNATS(ctx, e.log, "store result", func(ctx context.Context) error {
		first, err := e.storeResult(ctx, stored, data)
		if err == nil {
			data = first
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store result in %s: %w", stored, err)
	}
	if first, err := messages.DecodeResult(data); err == nil {
		r = first
	}
	if err := record(r); err != nil {
		return nil, err
	}
	subject := messages.ResultSubject(e.reply)
	err = e.w.retryNATS(ctx, e.log, "publish result", func(ctx context.Context) error {
		if !e.inStream {
			if err := e.w.nc.Publish(subject, data); err != nil {
				return err
			}
			return e.w.nc.FlushWithContext(ctx)
		}
		msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
		msg.Header.Set(messages.MsgIDHeader, messages.ResultMsgID(e.id))
		_, err := e.w.js.PublishMsg(ctx, msg)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("publish result to %s (it is stored in %s): %w", subject, stored, err)
	}
	return r, nil
}

// storeResult publishes data on subject, P.results.<id>, and returns the
// result the stream holds for the task: data, or the one stored first
// when the stream reports a duplicate or refuses a second message on
// subject.
func (e *events) storeResult(ctx context.Context, subject string, data []byte) ([]byte, error) {
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	msg.Header.Set(messages.MsgIDHeader, messages.ResultMsgID(e.id))
	ack, err := e.w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(messages.ResultsStream))
	if err == nil && !ack.Duplicate {
		return data, nil
	}
	first, lookErr := e.w.streams().results.GetLastMsgForSubject(ctx, subject)
	switch {
	case lookErr == nil:
		e.log.Info("result already stored; kept the first")
		return first.Data, nil
	case err != nil:
		return nil, err
	default:
		return nil, fmt.Errorf("read the result stored first: %w", lookErr)
	}
}

// storedResult returns the result JETRUN_RESULTS holds for the task,
// whatever its reply prefix, or nil when it holds none; ctx bounds the
// lookup. A stored message that does not decode is returned as a result
// with only the task's id and an error saying so: it still means done.
func (e *events) storedResult(ctx context.Context) (*messages.Result, error) {
	m, err := e.w.streams().results.GetLastMsgForSubject(ctx, e.w.subj.StoredResult(e.id))
	switch {
	case err == nil:
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	default:
		return nil, fmt.Errorf("look up earlier result: %w", err)
	}
	r, derr := messages.DecodeResult(m.Data)
	if derr != nil {
		return &messages.Result{ID: e.id, Status: messages.ResultError, ExitCode: -1, Error: fmt.Sprintf("stored result does not decode: %v", derr), Finished: m.Time.UTC()}, nil
	}
	return r, nil
}
