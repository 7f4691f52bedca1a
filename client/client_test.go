package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	for name, opt := range map[string]client.Option{
		"wildcard prefix":  client.WithPrefix("jet.*"),
		"empty token":      client.WithPrefix("a..b"),
		"dotted queue":     client.WithQueue("a.b"),
		"zero timeout":     client.WithPublishTimeout(0),
		"no pending":       client.WithMaxPending(0),
		"negative buffer":  client.WithEventBuffer(-1),
		"zero result poll": client.WithResultPollInterval(0),
	} {
		if _, err := client.New(nc, opt); !errors.Is(err, client.ErrInvalidOption) {
			t.Errorf("%s: err = %v, want ErrInvalidOption", name, err)
		}
	}
	if _, err := client.New(nil); !errors.Is(err, client.ErrInvalidOption) {
		t.Errorf("nil conn: err = %v, want ErrInvalidOption", err)
	}
}

func TestSubmitWithoutWorkerSaysNoTaskStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	_, err := e.c.Submit(testCtx(t), task("t1", "true"))
	if !errors.Is(err, client.ErrNoTaskStream) {
		t.Fatalf("err = %v, want ErrNoTaskStream", err)
	}
	if !strings.Contains(err.Error(), "is a worker running?") {
		t.Errorf("err = %q, want a hint about the worker", err)
	}
	p, err := e.c.SubmitAsync(testCtx(t), task("t2", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(testCtx(t)); !errors.Is(err, client.ErrNoTaskStream) {
		t.Fatalf("async err = %v, want ErrNoTaskStream", err)
	}
}

func TestSubmitRefusesInvalidTaskNamingTheField(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, tc := range []struct {
		task  *messages.Task
		field string
	}{
		{&messages.Task{ID: "x"}, "image"},
		{&messages.Task{Image: "busybox"}, "id"},
		{&messages.Task{ID: "a.b", Image: "busybox"}, "id"},
		{&messages.Task{ID: "x", Image: "busybox", Reply: "r.>"}, "reply"},
		{nil, "task"},
	} {
		for name, submit := range map[string]func() error{
			"Submit":      func() error { _, err := e.c.Submit(testCtx(t), tc.task); return err },
			"SubmitAsync": func() error { _, err := e.c.SubmitAsync(testCtx(t), tc.task); return err },
		} {
			err := submit()
			var verr *messages.ValidationError
			if !errors.Is(err, client.ErrInvalidTask) || !errors.As(err, &verr) || verr.Field != tc.field {
				t.Errorf("%s(%+v): err = %v, want ErrInvalidTask on field %q", name, tc.task, err, tc.field)
			}
		}
	}
}

func TestSubmitDeliversEventsInOrderThenResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startWorker(t, e)
	h := submit(t, e.c, task("hello", "echo", "one", ";", "echo", "two"))
	var out bytes.Buffer
	var states []string
	for ev := range h.Events() { // closed once the result is in
		switch {
		case ev.Status != nil:
			states = append(states, ev.Status.State)
		case ev.Log != nil:
			out.Write(ev.Log.Data)
		}
	}
	res, err := h.Result(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != messages.ResultSuccess || res.ID != "hello" {
		t.Errorf("result = %+v, want success for hello", res)
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("output = %q, want %q", out.String(), "one\ntwo\n")
	}
	if len(states) == 0 || states[len(states)-1] != messages.StateRunning {
		t.Errorf("states = %v, want to end with running", states)
	}
	if h.Ack().Duplicate || h.Ack().Stream != messages.TasksStream {
		t.Errorf("ack = %+v, want a first publish to %s", h.Ack(), messages.TasksStream)
	}
}

func TestSlowReaderLosesEventsNotTheResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t, client.WithEventBuffer(2))
	startWorker(t, e)
	var args []string
	for i := range 50 {
		args = append(args, "echo", fmt.Sprint(i), ";")
	}
	h := submit(t, e.c, task("chatty", args...))
	// Nobody reads Events: the buffer fills, the rest is dropped.
	select {
	case <-h.Done():
	case <-testCtx(t).Done():
		t.Fatal("no result")
	}
	res, err := h.Result(testCtx(t))
	if err != nil || res.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v, %v; want success", res, err)
	}
	if h.Dropped() == 0 {
		t.Error("Dropped() = 0, want the events that did not fit counted")
	}
	n := 0
	for range h.Events() {
		n++
	}
	if n != 2 {
		t.Errorf("buffered events = %d, want 2 (the buffer)", n)
	}
}

func TestDuplicateSubmitIsReportedAndFollowsTheFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := startWorker(t, e)
	first := submit(t, e.c, task("dup", "echo", "once"))
	if _, err := first.Result(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	second := submit(t, e.c, task("dup", "echo", "once"))
	if !second.Ack().Duplicate {
		t.Fatalf("second ack = %+v, want Duplicate", second.Ack())
	}
	// The result was published before the second handle existed: it is
	// read from JETRUN_EVENTS.
	res, err := second.Result(testCtx(t))
	if err != nil || res.Status != messages.ResultSuccess {
		t.Fatalf("second result = %+v, %v; want the first run's success", res, err)
	}
	if n := w.Runs(); n != 1 {
		t.Errorf("runs = %d, want 1", n)
	}
}

func TestResultPublishedBeforeSubmitIsFoundInEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ensureStreams(t, e.js, e.c.Prefix())
	// A task that already finished (its id resubmitted after the dedupe
	// window): the worker acks it without running, so no live result comes.
	data, _ := messages.Encode(&messages.Result{ID: "old", Status: messages.ResultSuccess})
	if _, err := e.js.Publish(testCtx(t), messages.ResultSubject(messages.NewSubjects("").Events("old")), data); err != nil {
		t.Fatal(err)
	}
	h := submit(t, e.c, task("old", "true"))
	res, err := h.Result(testCtx(t))
	if err != nil || res.ID != "old" || res.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v, %v; want the stored one", res, err)
	}
}

func TestCancelEndsTheTaskWithTheReason(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startWorker(t, e)
	h := submit(t, e.c, task("long", "sleep", "1h"))
	for ev := range h.Events() {
		if ev.Status != nil && ev.Status.State == messages.StateRunning {
			break
		}
	}
	if err := h.Cancel(testCtx(t), "user asked"); err != nil {
		t.Fatal(err)
	}
	res, err := h.Result(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != messages.ResultCancelled || !strings.Contains(res.Error, "user asked") {
		t.Errorf("result = %+v, want cancelled with the reason", res)
	}
}

func TestCancelIsStoredForWorkersNotRunningYet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ensureStreams(t, e.js, e.c.Prefix())
	if err := e.c.Cancel(testCtx(t), "queued", "changed my mind"); err != nil {
		t.Fatal(err)
	}
	s, err := e.js.Stream(testCtx(t), messages.CancelsStream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(testCtx(t), "jetrun.cancel.queued")
	if err != nil {
		t.Fatalf("stored cancel: %v", err)
	}
	c, err := messages.DecodeCancel(m.Data)
	if err != nil || c.ID != "queued" || c.Reason != "changed my mind" {
		t.Errorf("stored cancel = %+v, %v", c, err)
	}
}

func TestCancelWithoutCancelStreamStillReachesLiveWorkers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	got := make(chan *messages.Cancel, 1)
	sub, err := e.nc.Subscribe("jetrun.cancel.*", func(m *nats.Msg) {
		c, _ := messages.DecodeCancel(m.Data)
		got <- c
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := e.c.Cancel(testCtx(t), "live", "stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-got:
		if c.ID != "live" || c.Reason != "stop" {
			t.Errorf("cancel = %+v", c)
		}
	case <-testCtx(t).Done():
		t.Fatal("cancel not delivered")
	}
	if err := e.c.Cancel(testCtx(t), "bad id", ""); !errors.Is(err, client.ErrInvalidTask) {
		t.Errorf("cancel with a bad id: err = %v, want ErrInvalidTask", err)
	}
}

func TestPublishTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, client.WithPublishTimeout(100*time.Millisecond))
	// Something answers nothing on the task subject: the publish is never
	// acknowledged.
	sub, err := e.nc.Subscribe("jetrun.tasks.>", func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if _, err := e.c.Submit(testCtx(t), task("slow", "true")); !errors.Is(err, client.ErrPublishTimeout) {
		t.Errorf("Submit: err = %v, want ErrPublishTimeout", err)
	}
	p, err := e.c.SubmitAsync(testCtx(t), task("slow2", "true"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Wait(testCtx(t)); !errors.Is(err, client.ErrPublishTimeout) {
		t.Errorf("SubmitAsync: err = %v, want ErrPublishTimeout", err)
	}
}

func TestResultAfterCloseOrConnectionLoss(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ensureStreams(t, e.js, e.c.Prefix()) // no worker: no result ever comes
	h := submit(t, e.c, task("orphan", "true"))
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Result(testCtx(t)); !errors.Is(err, client.ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
	if _, ok := <-h.Events(); ok {
		t.Error("Events not closed by Close")
	}

	h2 := submit(t, e.c, task("orphan2", "true"))
	ctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
	defer cancel()
	if _, err := h2.Result(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ctx ended: err = %v, want DeadlineExceeded", err)
	}
	e.nc.Close()
	if _, err := h2.Result(testCtx(t)); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("connection closed: err = %v, want ErrConnectionClosed", err)
	}
}

func TestStatusByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if _, err := e.c.Status(testCtx(t), "any"); !errors.Is(err, client.ErrNoEventStream) {
		t.Fatalf("no stream: err = %v, want ErrNoEventStream", err)
	}
	startWorker(t, e)
	if _, err := e.c.Run(testCtx(t), task("done", "exit", "1")); err != nil {
		t.Fatal(err)
	}
	// The live subscription can deliver the result a moment before the
	// stream has stored it: poll until the stored view catches up.
	var st client.TaskStatus
	natstest.Eventually(t, 5*time.Second, func() bool {
		var err error
		st, err = e.c.Status(testCtx(t), "done")
		return err == nil && st.Done()
	}, "result of task done never stored")
	if !st.Done() || st.Result.Status != messages.ResultError || st.Status == nil || st.Status.State != messages.StateRunning {
		t.Errorf("status = %+v, want the running status and the error result", st)
	}
	if _, err := e.c.Status(testCtx(t), "never"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("unknown id: err = %v, want ErrNotFound", err)
	}
}

func TestLogsReplayAndFollow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startWorker(t, e)
	collect := func(id string, follow bool) (string, error) {
		var out bytes.Buffer
		err := e.c.Logs(testCtx(t), id, follow, func(l *messages.Log) error {
			out.Write(l.Data)
			return nil
		})
		return out.String(), err
	}
	if _, err := e.c.Run(testCtx(t), task("logged", "echo", "a", ";", "echo", "b")); err != nil {
		t.Fatal(err)
	}
	if out, err := collect("logged", false); err != nil || out != "a\nb\n" {
		t.Errorf("replay = %q, %v; want %q", out, err, "a\nb\n")
	}
	if out, err := collect("silent-unknown", false); err != nil || out != "" {
		t.Errorf("replay of nothing = %q, %v; want empty, nil", out, err)
	}

	// Follow from before the task starts until its result.
	h := submit(t, e.c, task("followed", "echo", "x", ";", "sleep", "1h", ";", "echo", "y"))
	type outcome struct {
		out string
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		out, err := collect("followed", true)
		done <- outcome{out, err}
	}()
	natstest.Eventually(t, 10*time.Second, func() bool {
		out, _ := collect("followed", false)
		return out == "x\n"
	}, "first chunk not stored")
	if err := h.Cancel(testCtx(t), "enough"); err != nil {
		t.Fatal(err)
	}
	got := <-done
	if got.err != nil || got.out != "x\n" {
		t.Errorf("follow = %q, %v; want %q, nil once the result is in", got.out, got.err, "x\n")
	}

	stop := errors.New("stop")
	err := e.c.Logs(testCtx(t), "logged", false, func(*messages.Log) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("fn error: err = %v, want it returned", err)
	}
}

func TestSubmitAsyncManyWithBoundedPending(t *testing.T) {
	t.Parallel()
	e := newEnv(t, client.WithMaxPending(8))
	startWorker(t, e)
	const n = 200
	results := make(chan *messages.Result, n)
	stop, err := e.c.WatchResults(func(r *messages.Result) { results <- r })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var pending []*client.Pending
	for i := range n {
		p, err := e.c.SubmitAsync(testCtx(t), task(fmt.Sprintf("bulk-%d", i), "echo", "hi"))
		if err != nil {
			t.Fatal(err)
		}
		pending = append(pending, p)
	}
	if err := e.c.Flush(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, p := range pending {
		select {
		case <-p.Done():
		default:
			t.Fatalf("%s not done after Flush", p.ID())
		}
		if p.Err() != nil {
			t.Errorf("%s: %v", p.ID(), p.Err())
		}
	}
	seen := map[string]bool{}
	for len(seen) < n {
		select {
		case r := <-results:
			seen[r.ID] = true
		case <-testCtx(t).Done():
			t.Fatalf("%d of %d results", len(seen), n)
		}
	}
	// A resubmit is acknowledged as a duplicate.
	p, err := e.c.SubmitAsync(testCtx(t), task("bulk-0", "echo", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := p.Wait(testCtx(t)); err != nil || !ack.Duplicate {
		t.Errorf("resubmit: ack = %+v, %v; want Duplicate", ack, err)
	}
}

func TestResultMissedDuringDisconnectIsReadAfterReconnect(t *testing.T) {
	t.Parallel()
	srv := natstest.Start(t)
	direct := natstest.Connect(t, srv)
	px := startProxy(t, srv.Addr().String())
	nc, err := nats.Connect(px.URL(), nats.ReconnectWait(20*time.Millisecond), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	// The poll is out of the picture: only the reconnect can find the result.
	c, err := client.New(nc, client.WithResultPollInterval(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(direct)
	other, _ := client.New(direct)
	startWorker(t, &env{srv: srv, nc: direct, js: js, c: other})

	h := submit(t, c, task("missed", "sleep", "1h"))
	for ev := range h.Events() {
		if ev.Status != nil && ev.Status.State == messages.StateRunning {
			break
		}
	}
	px.cut()
	natstest.Eventually(t, 10*time.Second, func() bool { return nc.Status() != nats.CONNECTED }, "client still connected")
	if err := other.Cancel(testCtx(t), "missed", "while away"); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, func() bool {
		st, err := other.Status(testCtx(t), "missed")
		return err == nil && st.Done()
	}, "result not stored")
	select {
	case <-h.Done():
		t.Fatal("result delivered while disconnected?")
	default:
	}
	px.resume()
	res, err := h.Result(testCtx(t))
	if err != nil || res.Status != messages.ResultCancelled {
		t.Fatalf("result = %+v, %v; want the cancelled result read after reconnect", res, err)
	}
}
