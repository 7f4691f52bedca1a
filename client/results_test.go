package client_test

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
	"github.com/jetrun/jetrun/worker/workertest"
)

// TestResultOutlivesEvictedEvents performs issue 15's attack 7: one
// producer's output fills JETRUN_EVENTS until a finished task's R.result
// is evicted from it, then the same task id is published again past
// deduplication. The result kept in JETRUN_RESULTS still stops the task
// from running a second time, for the default reply prefix and a custom
// one, and Status and a new handle still find it.
func TestResultOutlivesEvictedEvents(t *testing.T) {
	e := newEnv(t)
	ctx := testCtx(t)
	const budget = 256 << 10
	drv := fake.New(fake.Options{})
	w, err := worker.New(natstest.Connect(t, e.srv), drv, worker.Config{
		WorkerID:     "test-worker",
		Concurrency:  2,
		PullWait:     200 * time.Millisecond,
		DrainTimeout: 5 * time.Second,
		Streams:      worker.StreamConfig{EventsMaxBytes: budget},
	}, slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	workertest.Run(t, w)

	subj := messages.NewSubjects(e.c.Prefix())
	plain := task("old", "echo", "once")
	custom := task("custom", "echo", "once")
	custom.Reply = "my.replies.custom"
	first := map[string]*messages.Result{}
	for _, tk := range []*messages.Task{plain, custom} {
		res, err := submit(t, e.c, tk).Result(ctx)
		if err != nil || res.Status != messages.ResultSuccess {
			t.Fatalf("task %s: result %+v, %v", tk.ID, res, err)
		}
		first[tk.ID] = res
	}
	if n := drv.Runs(); n != 2 {
		t.Fatalf("%d runs; want 2", n)
	}

	// Another producer's output pushes the old result out of JETRUN_EVENTS.
	events, err := e.js.Stream(ctx, messages.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	chunk, err := messages.Encode(&messages.Log{ID: "flood", Stream: "stdout", Data: bytes.Repeat([]byte("x"), 32<<10)})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2*budget/len(chunk); i++ {
		if _, err := e.js.Publish(ctx, messages.LogSubject(subj.Events("flood")), chunk); err != nil {
			t.Fatalf("flood: %v", err)
		}
	}
	if _, err := events.GetLastMsgForSubject(ctx, messages.ResultSubject(subj.Events("old"))); !errors.Is(err, jetstream.ErrMsgNotFound) {
		t.Fatalf("old result in %s: %v; want it evicted", messages.EventsStream, err)
	}

	// The same ids again, under new message ids: deduplication does not
	// stop them.
	cons, err := e.js.Consumer(ctx, messages.TasksStream, messages.ConsumerName(messages.DefaultQueue))
	if err != nil {
		t.Fatal(err)
	}
	var last uint64
	for _, tk := range []*messages.Task{plain, custom} {
		data, err := messages.Encode(tk)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := e.js.Publish(ctx, subj.Task(""), data, jetstream.WithMsgID(tk.ID+"-again"))
		if err != nil || ack.Duplicate {
			t.Fatalf("publish %s again: %+v, %v", tk.ID, ack, err)
		}
		last = ack.Sequence
	}
	natstest.Eventually(t, 10*time.Second, func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	}, "the republished tasks were never settled")
	if n := drv.Runs(); n != 2 {
		t.Fatalf("%d runs after publishing the same ids again; want still 2", n)
	}

	st, err := e.c.Status(ctx, "old")
	if err != nil || st.Result == nil {
		t.Fatalf("status of old: %+v, %v; want its result", st, err)
	}
	if !st.Result.Finished.Equal(first["old"].Finished) || st.Result.Worker != first["old"].Worker {
		t.Fatalf("status of old: result %+v; want the first %+v", st.Result, first["old"])
	}
	// A handle on the custom-reply task, which no worker will answer
	// again, finishes with the stored result.
	res, err := submit(t, e.c, custom).Result(ctx)
	if err != nil || !res.Finished.Equal(first["custom"].Finished) {
		t.Fatalf("handle of custom: %+v, %v; want the first result %+v", res, err, first["custom"])
	}
}
