package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// runsSoFar returns how many times task id was started, from its last Run
// on P.runs.<id> in JETRUN_RUNS: 0 when there is none.
func (w *Worker) runsSoFar(ctx context.Context, id string) (int, error) {
	m, err := w.streams().runs.GetLastMsgForSubject(ctx, w.subj.Run(id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("look up runs in %s: %w", messages.RunsStream, err)
	}
	r, err := messages.DecodeRun(m.Data)
	if err != nil || r.Run < 0 {
		// A record no worker wrote: count from what it says it is, 0.
		return 0, nil
	}
	return r.Run, nil
}

// recordRun stores Run n of task id before it is started, and waits for
// the stream's acknowledgement: a worker that dies during the run leaves
// the count behind for the next delivery. A retried record is stored once
// (messages.RunMsgID).
func (w *Worker) recordRun(ctx context.Context, id string, n int) error {
	data, err := messages.Encode(&messages.Run{ID: id, Run: n, Worker: w.cfg.WorkerID})
	if err != nil {
		return fmt.Errorf("encode run: %w", err)
	}
	msg := &nats.Msg{Subject: w.subj.Run(id), Data: data, Header: nats.Header{}}
	msg.Header.Set(messages.MsgIDHeader, messages.RunMsgID(id, n))
	if _, err := w.js.PublishMsg(ctx, msg, jetstream.WithExpectStream(messages.RunsStream)); err != nil {
		return fmt.Errorf("record run %d in %s: %w", n, messages.RunsStream, err)
	}
	return nil
}
