package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
	"github.com/jetrun/jetrun/worker/workertest"
)

// TestSubmitterCannotReadWorkerInboxes: JetStream delivers every task a
// worker pulls, env and input included, to the worker's inbox. A submitter
// may subscribe neither to the workers' inbox prefix nor to any wildcard
// that covers it, and a worker not to the submitters'.
func TestSubmitterCannotReadWorkerInboxes(t *testing.T) {
	f := startFromConf(t)
	w, s, a := f.connect(t, "worker"), f.connect(t, "submitter"), f.connect(t, "admin")
	cons := ensureLayout(t, f, w)

	// The admin may watch everything: it shows where the task really goes.
	watch, err := a.nc.SubscribeSync("_INBOX_worker.>")
	if err != nil {
		t.Fatal(err)
	}
	refused := func(c *conn, subjects ...string) []*nats.Subscription {
		t.Helper()
		var subs []*nats.Subscription
		for _, subject := range subjects {
			sub, err := c.nc.SubscribeSync(subject)
			if err != nil {
				t.Fatalf("%s: subscribe %s: %v", c.user, subject, err)
			}
			if _, err := sub.NextMsg(5 * time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("%s: subscribe to %s: %v; want %v", c.user, subject, err, nats.ErrPermissionViolation)
			}
			subs = append(subs, sub)
		}
		return subs
	}
	spies := refused(s, "_INBOX_worker.>", "_INBOX.>", ">", "*.>", "_INBOX_worker.*")
	refused(w, "_INBOX_submitter.>", "_INBOX.>", ">")
	if err := a.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}

	data, err := messages.Encode(&messages.Task{ID: "secret", Image: "demo:latest", Env: map[string]string{"TOKEN": "s3cret"}, Input: []byte("private input")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.js.Publish(t.Context(), subj.Task(queue), data, jetstream.WithMsgID("secret")); err != nil {
		t.Fatalf("submitter: publish task: %v", err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil || !bytes.Equal(m.Data(), data) {
		t.Fatalf("worker: next: %v", err)
	}
	if err := m.DoubleAck(t.Context()); err != nil {
		t.Fatalf("worker: ack: %v", err)
	}
	seen, err := watch.NextMsg(5 * time.Second)
	if err != nil || !bytes.Equal(seen.Data, data) {
		t.Fatalf("admin: the task never passed through _INBOX_worker.>: %v", err)
	}

	// The task passed by, and no refused subscription received it.
	if err := s.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	for _, sub := range spies {
		if n, _, err := sub.Pending(); err != nil || n != 0 {
			t.Fatalf("submitter: %s holds %d messages (%v); want none", sub.Subject, n, err)
		}
	}
}

// TestDefaultInboxIsRefused pins down what a client left on nats.go's
// default inbox prefix sees, as docs/deployment.md states it: its inbox
// subscription is refused, so every JetStream call times out, and the
// refusal reaches its error handler naming the _INBOX subject.
func TestDefaultInboxIsRefused(t *testing.T) {
	f := startFromConf(t)
	for _, user := range []string{"worker", "submitter"} {
		c := f.connectWith(t, user)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		_, err := c.js.AccountInfo(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s with _INBOX: account info: %v; want %v", user, err, context.DeadlineExceeded)
		}
		select {
		case err := <-c.errs:
			if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), `Subscription to "_INBOX.`) {
				t.Fatalf("%s with _INBOX: %v; want the inbox subscription refused", user, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s with _INBOX: no refusal reported", user)
		}
	}
}

// TestRealWorkerAndClientWithRoleInboxes runs the real worker package (on
// the fake driver) as the worker user with _INBOX_worker, and the real
// client as the submitter with _INBOX_submitter: output and stdin, a live
// cancel, a cancel stored before the task, asynchronous submits, log
// replay, and an ordered push consumer with flow control. Whatever the two
// packages need and nats.conf refuses shows up as a permission violation.
func TestRealWorkerAndClientWithRoleInboxes(t *testing.T) {
	f := startFromConf(t)
	w, s, a := f.connect(t, "worker"), f.connect(t, "submitter"), f.connect(t, "admin")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	runWorker(t, f, w)

	c, err := client.New(s.nc, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("client: %v", err)
	}

	// Output and stdin; the worker heartbeats its lease while it publishes.
	const mib = 1 << 20
	big := &messages.Task{ID: "big", Image: "demo:latest", Input: []byte("in\n"), Env: map[string]string{"TOKEN": "s3cret"},
		Cmd: []string{"cat", ";", "env", "TOKEN", ";", "write", "2"}}
	h, err := c.Submit(ctx, big)
	if err != nil {
		t.Fatalf("client: submit: %v", err)
	}
	res, err := h.Result(ctx)
	h.Close()
	wantBytes := int64(len("in\n") + len("s3cret\n") + 2*mib)
	if err != nil || res.Status != messages.ResultSuccess || res.LogBytes != wantBytes {
		t.Fatalf("client: result %+v, %v; want success with %d output bytes", res, err, wantBytes)
	}

	// A live cancel reaches the running task.
	h, err = c.Submit(ctx, &messages.Task{ID: "long", Image: "demo:latest", Cmd: []string{"sleep", "1h"}})
	if err != nil {
		t.Fatalf("client: submit: %v", err)
	}
	waitRunning(t, ctx, c, "long")
	if err := c.Cancel(ctx, "long", "test"); err != nil {
		t.Fatalf("client: cancel: %v", err)
	}
	if res, err := h.Result(ctx); err != nil || res.Status != messages.ResultCancelled {
		t.Fatalf("client: result of the cancelled task %+v, %v; want cancelled", res, err)
	}
	h.Close()

	// A cancel of a queued task is found in JETRUN_CANCELS by the worker
	// that picks the task up: both slots are busy while it is sent.
	var blockers []*client.Handle
	for _, id := range []string{"block-1", "block-2"} {
		b, err := c.Submit(ctx, &messages.Task{ID: id, Image: "demo:latest", Cmd: []string{"sleep", "1h"}})
		if err != nil {
			t.Fatalf("client: submit: %v", err)
		}
		waitRunning(t, ctx, c, id)
		blockers = append(blockers, b)
	}
	early, err := c.Submit(ctx, &messages.Task{ID: "early", Image: "demo:latest", Cmd: []string{"echo", "never"}})
	if err != nil {
		t.Fatalf("client: submit: %v", err)
	}
	if err := c.Cancel(ctx, "early", "before it starts"); err != nil {
		t.Fatalf("client: cancel: %v", err)
	}
	for _, id := range []string{"block-1", "block-2"} {
		if err := c.Cancel(ctx, id, "test"); err != nil {
			t.Fatalf("client: cancel: %v", err)
		}
	}
	for _, b := range blockers {
		b.Close()
	}
	if res, err := early.Result(ctx); err != nil || res.Status != messages.ResultCancelled || res.LogBytes != 0 {
		t.Fatalf("client: result of the task cancelled while queued %+v, %v; want cancelled before it ran", res, err)
	}
	early.Close()

	// Asynchronous submits (acks on the submitter's inbox) and live results.
	var mu sync.Mutex
	results := map[string]string{}
	stop, err := c.WatchResults(func(r *messages.Result) {
		mu.Lock()
		defer mu.Unlock()
		results[r.ID] = r.Status
	})
	if err != nil {
		t.Fatalf("client: watch results: %v", err)
	}
	defer func() { _ = stop() }()
	p, err := c.SubmitAsync(ctx, &messages.Task{ID: "async", Image: "demo:latest", Cmd: []string{"echo", "hi"}})
	if err != nil {
		t.Fatalf("client: submit async: %v", err)
	}
	if _, err := p.Wait(ctx); err != nil {
		t.Fatalf("client: async ack: %v", err)
	}
	natstest.Eventually(t, 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return results["async"] == messages.ResultSuccess
	}, "client: no live result of the asynchronous task")

	// Log replay through the client (an ordered pull consumer).
	var replayed int64
	if err := c.Logs(ctx, "big", false, func(l *messages.Log) error { replayed += int64(len(l.Data)); return nil }); err != nil || replayed != wantBytes {
		t.Fatalf("client: logs: %d bytes, %v; want %d", replayed, err, wantBytes)
	}

	// An ordered push consumer (the legacy nats.go API, the nats CLI): its
	// deliveries and flow-control requests arrive on the submitter's inbox,
	// and its flow-control replies go to $JS.FC, seen here by the admin.
	fc, err := a.nc.SubscribeSync("$JS.FC.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.nc.FlushTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	legacy, err := s.nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	sub, err := legacy.SubscribeSync(messages.LogSubject(subj.Events("big")), nats.OrderedConsumer(), nats.DeliverAll())
	if err != nil {
		t.Fatalf("submitter: ordered push consumer: %v", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if !strings.HasPrefix(sub.Subject, "_INBOX_submitter.") {
		t.Fatalf("ordered push consumer delivers to %q; want the submitter's inbox", sub.Subject)
	}
	var pushed int64
	for pushed < wantBytes {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("submitter: ordered push consumer after %d bytes: %v", pushed, err)
		}
		l, err := messages.DecodeLog(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		pushed += int64(len(l.Data))
	}
	if m, err := fc.NextMsg(10 * time.Second); err != nil || !strings.Contains(m.Subject, "."+eventsStream+".") {
		t.Fatalf("admin: no flow-control reply from the submitter's ordered consumer (%d bytes read): %v", pushed, err)
	}

	// Nothing either side did was refused.
	for _, c := range []*conn{w, s} {
		if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
		noViolations(t, c)
	}
}

// runWorker provisions the streams as the admin, then runs the worker
// package on the fake driver over w, verifying them as `worker --nats`
// does, until the test ends, and waits until it is ready.
func runWorker(t *testing.T, f *fixture, w *conn) {
	t.Helper()
	f.provision(t)
	wk, err := worker.New(w.nc, fake.New(fake.Options{WorkerID: "w1"}), worker.Config{
		WorkerID: "w1", Concurrency: 2, PullWait: 200 * time.Millisecond, DrainTimeout: 5 * time.Second,
		HeartbeatInterval: 50 * time.Millisecond, StatInterval: 50 * time.Millisecond,
		VerifyStreams: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("worker: %v", err)
	}
	workertest.Run(t, wk)
}

// waitRunning waits until task id's latest stored status says running.
func waitRunning(t *testing.T, ctx context.Context, c *client.Client, id string) {
	t.Helper()
	natstest.Eventually(t, 30*time.Second, func() bool {
		st, err := c.Status(ctx, id)
		return err == nil && st.Status != nil && st.Status.State == messages.StateRunning
	}, "task %s never ran", id)
}

// noViolations fails the test if the server refused c anything.
func noViolations(t *testing.T, c *conn) {
	t.Helper()
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) {
				t.Fatalf("%s: %v", c.user, err)
			}
			t.Logf("%s: other asynchronous error: %v", c.user, err)
		default:
			return
		}
	}
}
