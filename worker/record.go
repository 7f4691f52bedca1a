package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// record writes what the inventory keeps of a task whose result r is
// stored: its dead letter, when r is not a success (the task message,
// unchanged, with the result's gist in headers), then its index Summary.
// It runs after the result is stored and before the message is acked, and
// again when a delivery finds its result already stored, so a worker that
// dies in between leaves the next delivery to finish it; both writes are
// idempotent (the dead letter is written only where none is, the index
// record replaces itself). Each write is retried through an outage for as
// long as ctx lasts. A write JetStream refuses for good (a 4xx API error:
// a dead letter larger than JETRUN_DEAD takes, say) is logged and skipped:
// the inventory misses that record, the task still settles.
func (j *job) record(ctx context.Context, r *messages.Result) error {
	w := j.w
	queue, ok := w.subj.QueueOf(j.msg.Subject())
	if !ok {
		queue = w.cfg.Queue
	}
	data := j.msg.Data()
	state := messages.StateOf(r.Status)
	sum := &messages.Summary{
		ID: r.ID, Queue: queue, State: state, Status: r.Status, ExitCode: r.ExitCode, Attempt: r.Attempt,
		Error: messages.Clip(r.Error, messages.MaxSummaryErrorLen), Worker: r.Worker,
		Submitted: j.published, Started: r.Started, Finished: r.Finished, LogBytes: r.LogBytes,
	}
	if t, err := messages.DecodeTask(data); err == nil {
		sum.InputBytes = len(t.Input)
		t.Input = nil
		// Every reader of the index sees it: env values (secrets, often)
		// stay only in the dead letter, if any.
		for k := range t.Env {
			t.Env[k] = ""
		}
		sum.Spec = t
	}
	if state != messages.TaskSucceeded {
		var added bool
		err := w.retryNATS(ctx, j.log, "store dead letter", func(ctx context.Context) (err error) {
			added, err = w.storeDeadLetter(ctx, queue, data, r, j.published)
			return permanentIfRefused(err)
		})
		switch {
		case refusedForGood(err):
			j.log.Error("dead letter refused by JetStream; the task cannot be retried from it", "stream", messages.DeadStream, "err", err)
		case err != nil:
			return fmt.Errorf("store dead letter in %s: %w", messages.DeadStream, err)
		default:
			sum.Dead = true
			if added {
				w.m.deadLetters.Inc()
			}
		}
	}
	enc, err := messages.Encode(sum)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	msg := &nats.Msg{Subject: w.subj.Index(state, queue, r.ID), Data: enc, Header: nats.Header{}}
	msg.Header.Set(messages.MsgIDHeader, messages.IndexMsgID(r.ID))
	err = w.retryNATS(ctx, j.log, "index task", func(ctx context.Context) error {
		_, err := w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(messages.IndexStream))
		return permanentIfRefused(err)
	})
	switch {
	case refusedForGood(err):
		j.log.Error("index record refused by JetStream; the task is not listed", "stream", messages.IndexStream, "err", err)
	case err != nil:
		return fmt.Errorf("index task in %s: %w", messages.IndexStream, err)
	}
	return nil
}

// storeDeadLetter stores task message data on P.dead.<queue>.<id> unless a
// dead letter of that id is there already; added says whether it did.
func (w *Worker) storeDeadLetter(ctx context.Context, queue string, data []byte, r *messages.Result, submitted time.Time) (added bool, err error) {
	msg := &nats.Msg{Subject: w.subj.Dead(queue, r.ID), Data: data, Header: nats.Header{}}
	msg.Header.Set(messages.MsgIDHeader, messages.DeadMsgID(r.ID))
	msg.Header.Set(messages.DeadStatusHeader, r.Status)
	if r.Error != "" {
		msg.Header.Set(messages.DeadErrorHeader, oneLine(messages.Clip(r.Error, messages.MaxSummaryErrorLen)))
	}
	if r.Worker != "" {
		msg.Header.Set(messages.DeadWorkerHeader, r.Worker)
	}
	msg.Header.Set(messages.DeadAttemptHeader, strconv.Itoa(r.Attempt))
	msg.Header.Set(messages.DeadFinishedHeader, r.Finished.UTC().Format(time.RFC3339Nano))
	if !submitted.IsZero() {
		msg.Header.Set(messages.DeadSubmittedHeader, submitted.UTC().Format(time.RFC3339Nano))
	}
	ack, err := w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(messages.DeadStream), jetstream.WithExpectLastSequencePerSubject(0))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return false, nil // stored by an earlier delivery
	}
	if err != nil {
		return false, err
	}
	return !ack.Duplicate, nil
}

// refusedForGood reports whether err is JetStream refusing a publish for
// a reason another try would not change: an API error in the 4xx range
// (too large, a limit, a bad header), not an outage (5xx, timeouts).
func refusedForGood(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.Code >= 400 && apiErr.Code < 500
}

// permanentIfRefused stops retryNATS on an error refusedForGood.
func permanentIfRefused(err error) error {
	if refusedForGood(err) {
		return backoff.Permanent(err)
	}
	return err
}

// oneLine makes s fit a header value: control characters become spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}
