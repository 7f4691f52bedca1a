package worker

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

func TestMain(m *testing.M) {
	// nats.go leaks this goroutine of every object store Put (its own
	// JetStream context waits on a nil channel).
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

// env is one in-process nats-server with a client connection for the test
// itself (producer and event reader).
type env struct {
	t   *testing.T
	srv *server.Server
	url string // what workers connect to: srv's URL, or a cluster's
	nc  *nats.Conn
	js  jetstream.JetStream
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := EnsureStreams(ctx, js, ""); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, srv: srv, url: srv.ClientURL(), nc: nc, js: js}
}

// testLogger routes logs to t.Log.
type tlog struct{ t *testing.T }

func (l tlog) Write(p []byte) (int, error) { l.t.Helper(); l.t.Log(string(p)); return len(p), nil }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// testConfig is fast for tests: short pulls, heartbeats and backoffs.
func testConfig(id string) Config {
	return Config{
		WorkerID:               id,
		Concurrency:            2,
		AckWait:                2 * time.Second,
		PullWait:               200 * time.Millisecond,
		DrainTimeout:           5 * time.Second,
		PrepareInitialInterval: 10 * time.Millisecond,
		PrepareMaxInterval:     50 * time.Millisecond,
		PrepareMaxElapsed:      500 * time.Millisecond,
		NakBaseDelay:           100 * time.Millisecond,
		NakMaxDelay:            time.Second,
		StatInterval:           100 * time.Millisecond,
	}
}

// running is a worker started by a test.
type running struct {
	w      *Worker
	nc     *nats.Conn
	drv    *fake.Driver
	cancel context.CancelFunc
	done   chan error
}

// start runs a worker with its own connection until the test ends.
func (e *env) start(cfg Config, drv *fake.Driver) *running {
	e.t.Helper()
	r := e.startDriver(cfg, drv)
	r.drv = drv
	return r
}

// startDriver is start with any driver.
func (e *env) startDriver(cfg Config, drv driver.Driver) *running {
	e.t.Helper()
	nc, err := nats.Connect(e.url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := New(nc, drv, cfg, testLogger(e.t).With("w", cfg.WorkerID))
	if err != nil {
		nc.Close()
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, nc: nc, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	e.t.Cleanup(func() { r.stop(e.t) })
	return r
}

// stop ends Run (draining) and closes the connection; idempotent.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if r.done != nil {
		select {
		case err := <-r.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("worker did not stop within 30s")
		}
		r.done = nil
	}
	r.nc.Close()
}

// submit publishes a task the way producers do.
func (e *env) submit(task *messages.Task) {
	e.t.Helper()
	data, err := messages.Encode(task)
	if err != nil {
		e.t.Fatal(err)
	}
	e.submitRaw(task.ID, data)
}

func (e *env) submitRaw(msgID string, data []byte) {
	e.t.Helper()
	msg := &nats.Msg{Subject: messages.NewSubjects("").Task(""), Data: data, Header: nats.Header{}}
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.PublishMsg(ctx, msg); err != nil {
		e.t.Fatalf("submit: %v", err)
	}
}

func (e *env) cancelTask(id, reason string) {
	e.t.Helper()
	data, _ := messages.Encode(&messages.Cancel{ID: id, Reason: reason})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.js.Publish(ctx, messages.NewSubjects("").Cancel(id), data); err != nil {
		e.t.Fatalf("cancel: %v", err)
	}
}

// events returns every stored event of task id, in order.
func (e *env) events(id string) []*nats.Msg {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := e.js.OrderedConsumer(ctx, messages.EventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{messages.NewSubjects("").Events(id) + ".>"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	n := int(info.NumPending)
	var out []*nats.Msg
	for len(out) < n {
		batch, err := c.Fetch(n-len(out), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			e.t.Fatal(err)
		}
		got := 0
		for m := range batch.Messages() {
			got++
			out = append(out, &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()})
		}
		if got == 0 {
			e.t.Fatalf("events of %s: got %d of %d", id, len(out), n)
		}
	}
	return out
}

// results returns the stored results of task id (the protocol allows one).
func (e *env) results(id string) []*messages.Result {
	e.t.Helper()
	var rs []*messages.Result
	for _, m := range e.events(id) {
		if m.Subject == messages.ResultSubject(messages.NewSubjects("").Events(id)) {
			r, err := messages.DecodeResult(m.Data)
			if err != nil {
				e.t.Fatal(err)
			}
			rs = append(rs, r)
		}
	}
	return rs
}

// result waits for the result of task id and checks it is the only one.
func (e *env) result(id string, within time.Duration) *messages.Result {
	e.t.Helper()
	subj := messages.ResultSubject(messages.NewSubjects("").Events(id))
	var raw *jetstream.RawStreamMsg
	natstest.Eventually(e.t, within, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := e.js.Stream(ctx, messages.EventsStream)
		if err != nil {
			return false
		}
		raw, err = st.GetLastMsgForSubject(ctx, subj)
		return err == nil
	}, "no result for task %s", id)
	r, err := messages.DecodeResult(raw.Data)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// statuses returns the states of task id's status events, in order.
func (e *env) statuses(id string) []*messages.Status {
	e.t.Helper()
	var ss []*messages.Status
	for _, m := range e.events(id) {
		if m.Subject == messages.StatusSubject(messages.NewSubjects("").Events(id)) {
			s, err := messages.DecodeStatus(m.Data)
			if err != nil {
				e.t.Fatal(err)
			}
			ss = append(ss, s)
		}
	}
	return ss
}

// waitState waits until task id has published a status with state.
func (e *env) waitState(id, state string, within time.Duration) *messages.Status {
	e.t.Helper()
	var found *messages.Status
	natstest.Eventually(e.t, within, func() bool {
		for _, s := range e.statuses(id) {
			if s.State == state {
				found = s
				return true
			}
		}
		return false
	}, "task %s never reached state %q", id, state)
	return found
}

// tasksLeft returns how many task messages the stream still holds.
func (e *env) tasksLeft() uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, messages.TasksStream)
	if err != nil {
		e.t.Fatal(err)
	}
	return st.CachedInfo().State.Msgs
}

func (e *env) consumerInfo() *jetstream.ConsumerInfo {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := e.js.Consumer(ctx, messages.TasksStream, messages.ConsumerName(messages.DefaultQueue))
	if err != nil {
		e.t.Fatal(err)
	}
	return c.CachedInfo()
}

func task(id string, cmd ...string) *messages.Task {
	return &messages.Task{ID: id, Image: "jetrun-testee:latest", Cmd: cmd}
}

var _ = errors.Is
