package deploy_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// TestClientWorksAsSubmitter runs jetrun's own Go client, the one `submit`
// is built on, under the submitter user: submit and follow a task, read its
// status and logs back from JETRUN_EVENTS, cancel one. The worker side is
// played by hand under the worker user. Any subject the client needs and
// nats.conf forgot shows up as a permission violation on the connection.
func TestClientWorksAsSubmitter(t *testing.T) {
	f := startFromConf(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	cons := ensureLayout(t, f, w)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	c, err := client.New(s.nc)
	if err != nil {
		t.Fatalf("client: %v", err)
	}
	h, err := c.Submit(ctx, &messages.Task{ID: "t1", Image: "demo:latest", Cmd: []string{"echo", "hi"}})
	if err != nil {
		t.Fatalf("client: submit: %v", err)
	}
	defer h.Close()

	// The worker's side: pull, report, answer, ack.
	m, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("worker: next: %v", err)
	}
	reply := subj.Events("t1")
	publish := func(subject string, v any) {
		t.Helper()
		data, err := messages.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.js.Publish(ctx, subject, data); err != nil {
			t.Fatalf("worker: publish %s: %v", subject, err)
		}
	}
	publish(messages.StatusSubject(reply), &messages.Status{ID: "t1", State: messages.StateRunning, Worker: "w1", Attempt: 1, Time: time.Now()})
	publish(messages.LogSubject(reply), &messages.Log{ID: "t1", Stream: messages.StreamStdout, Data: []byte("hi\n"), Attempt: 1})
	publish(messages.ResultSubject(reply), &messages.Result{ID: "t1", Status: messages.ResultSuccess, Worker: "w1", Attempt: 1, Finished: time.Now()})
	if err := m.DoubleAck(ctx); err != nil {
		t.Fatalf("worker: ack: %v", err)
	}

	res, err := h.Result(ctx)
	if err != nil || res.Status != messages.ResultSuccess {
		t.Fatalf("client: result %+v, %v; want success", res, err)
	}
	st, err := c.Status(ctx, "t1")
	if err != nil || st.Result == nil || st.Status == nil || st.Status.State != messages.StateRunning {
		t.Fatalf("client: status %+v, %v; want the stored status and result", st, err)
	}
	var out []byte
	if err := c.Logs(ctx, "t1", false, func(l *messages.Log) error { out = append(out, l.Data...); return nil }); err != nil {
		t.Fatalf("client: logs: %v", err)
	}
	if !bytes.Equal(out, []byte("hi\n")) {
		t.Fatalf("client: logs %q; want %q", out, "hi\n")
	}
	if err := c.Cancel(ctx, "t2", "no longer needed"); err != nil {
		t.Fatalf("client: cancel: %v", err)
	}
	if n := streamMsgs(t, w, cancelsStream); n != 1 {
		t.Fatalf("%s holds %d messages; want the cancel", cancelsStream, n)
	}

	// Nothing the client did was refused.
	if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	noViolations(t, s)
}
