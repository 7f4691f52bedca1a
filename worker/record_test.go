package worker

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// last returns the last message on subject in stream, or nil.
func (e *env) last(stream, subject string) *jetstream.RawStreamMsg {
	e.t.Helper()
	st, err := e.js.Stream(context.Background(), stream)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		return nil
	}
	return m
}

// TestRecordsOfEveryEnding: a success is indexed and not dead-lettered; a
// failure, a refused task and an undecodable message whose id can be read
// are indexed as failed with their task message kept byte for byte; a
// message without a readable id leaves no record (it has no key).
func TestRecordsOfEveryEnding(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	subj := messages.NewSubjects("")

	e.submit(task("fine", "echo", "hi"))
	e.submit(task("broken", "exit", "3"))
	bad, _ := msgpack.Marshal(map[string]any{"id": "garbled", "image": "x", "cmd": 42})
	e.submitRaw("garbled", bad)
	e.submitRaw("anonymous", []byte("\xc1 no id in here"))
	for _, id := range []string{"fine", "broken", "garbled"} {
		e.result(id, 10*time.Second)
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return e.tasksLeft() == 0 }, "tasks not settled")

	if m := e.last(messages.IndexStream, subj.Index(messages.TaskSucceeded, "default", "fine")); m == nil {
		t.Fatal("fine: no index record under succeeded")
	} else if s, err := messages.DecodeSummary(m.Data); err != nil || s.Spec == nil || s.Dead || s.Worker != "w1" || s.Submitted.IsZero() {
		t.Fatalf("fine: summary %+v, %v", s, err)
	}
	if m := e.last(messages.DeadStream, subj.DeadFilter("", "fine")); m != nil {
		t.Fatal("a success was dead-lettered")
	}
	for id, spec := range map[string]bool{"broken": true, "garbled": false} {
		m := e.last(messages.IndexStream, subj.Index(messages.TaskFailed, "default", id))
		if m == nil {
			t.Fatalf("%s: no index record under failed", id)
		}
		s, err := messages.DecodeSummary(m.Data)
		if err != nil || !s.Dead || (s.Spec != nil) != spec || s.Error == "" {
			t.Fatalf("%s: summary %+v, %v", id, s, err)
		}
		d := e.last(messages.DeadStream, subj.Dead("default", id))
		if d == nil || d.Header.Get(messages.DeadStatusHeader) != messages.ResultError || d.Header.Get(messages.DeadWorkerHeader) != "w1" {
			t.Fatalf("%s: dead letter %+v", id, d)
		}
		if id == "garbled" && !bytes.Equal(d.Data, bad) {
			t.Fatalf("garbled: dead letter holds %q, want the message as delivered", d.Data)
		}
	}
	st, _ := e.js.Stream(context.Background(), messages.DeadStream)
	if info, err := st.Info(context.Background()); err != nil || info.State.Msgs != 2 {
		t.Fatalf("dead letters: %+v, %v; want broken and garbled only", info.State, err)
	}
}

// TestRecordsRepairedOnRedelivery: a delivery that finds its result stored
// but no records (its worker died between the two) writes them before it
// acks.
func TestRecordsRepairedOnRedelivery(t *testing.T) {
	e := newEnv(t)
	subj := messages.NewSubjects("")
	// The state a worker that died after storing the result leaves.
	r, _ := messages.Encode(&messages.Result{ID: "orphan", Status: messages.ResultError, ExitCode: 1, Error: "boom", Worker: "dead-worker", Attempt: 1, Finished: time.Now().UTC()})
	if _, err := e.js.Publish(context.Background(), subj.StoredResult("orphan"), r); err != nil {
		t.Fatal(err)
	}
	e.submit(task("orphan", "exit", "1"))
	drv := fake.New(fake.Options{})
	e.start(testConfig("w1"), drv)
	natstest.Eventually(t, 10*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not acked")
	if drv.Runs() != 0 {
		t.Fatalf("a task with a stored result ran %d times", drv.Runs())
	}
	m := e.last(messages.IndexStream, subj.Index(messages.TaskFailed, "default", "orphan"))
	if m == nil {
		t.Fatal("no index record written on redelivery")
	}
	if s, _ := messages.DecodeSummary(m.Data); s == nil || s.Worker != "dead-worker" || s.Error != "boom" {
		t.Fatalf("summary %+v: want the stored result's", s)
	}
	if d := e.last(messages.DeadStream, subj.Dead("default", "orphan")); d == nil {
		t.Fatal("no dead letter written on redelivery")
	}
}

// TestRefusedForGood classifies real JetStream errors: a publish the
// stream refuses for its content (here, a wrong expected stream) is
// refused for good, so an inventory write that hits one is skipped rather
// than retried while the task waits; an outage (no responders) is not.
func TestRefusedForGood(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	_, err := e.js.Publish(ctx, messages.NewSubjects("").Index(messages.TaskFailed, "default", "x"), []byte("x"), jetstream.WithExpectStream("NOT_THE_INDEX"))
	if err == nil || !refusedForGood(err) {
		t.Fatalf("wrong expected stream: %v, refused for good %v; want true", err, refusedForGood(err))
	}
	if _, ok := permanentIfRefused(err).(*backoff.PermanentError); !ok {
		t.Fatalf("permanentIfRefused(%v) does not stop retryNATS", err)
	}
	_, err = e.js.Publish(ctx, "nowhere.at.all", []byte("x"))
	if err == nil || refusedForGood(err) {
		t.Fatalf("no stream: %v, refused for good %v; want false (an outage looks the same)", err, refusedForGood(err))
	}
}
