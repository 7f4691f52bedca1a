package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// streamMsgs is how many messages stream holds under subject.
func (e *env) streamMsgs(stream, subject string) uint64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		e.t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		e.t.Fatal(err)
	}
	var n uint64
	for _, c := range info.State.Subjects {
		n += c
	}
	return n
}

// A reply prefix under P.tasks would make the task's events tasks, under
// P.cancel cancels of other tasks, and one under P.events that is not the
// task's own would forge another task's result. Each is refused before it
// runs, with an error result on the task's default events subject, and
// nothing lands where the reply pointed.
func TestReplyUnderReservedSubjectsRefused(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	r := e.start(testConfig("w1"), drv)

	replies := map[string]string{
		"r-tasks":       "jetrun.tasks",
		"r-tasks-queue": "jetrun.tasks.default",
		"r-cancel":      "jetrun.cancel",
		"r-cancel-id":   "jetrun.cancel.status",
		"r-events":      "jetrun.events.victim",
		"r-dollar":      "jetrun.events.d1x$",
	}
	for id, reply := range replies {
		e.submit(&messages.Task{ID: id, Image: "jetrun-testee", Cmd: []string{"echo", "ran"}, Reply: reply})
	}
	for id, reply := range replies {
		res := e.result(id, 10*time.Second)
		if res.Status != messages.ResultError || !strings.Contains(res.Error, "reply") {
			t.Errorf("%s (reply %q): result %+v, want an error about the reply", id, reply, res)
		}
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "refused tasks not terminated: %d left", e.tasksLeft())
	if n := e.streamMsgs(messages.CancelsStream, ">"); n != 0 {
		t.Errorf("%d messages stored as cancels", n)
	}
	if n := e.streamMsgs(messages.EventsStream, "jetrun.events.victim.>"); n != 0 {
		t.Errorf("%d events stored on the victim's subjects", n)
	}
	if drv.Prepares() != 0 {
		t.Errorf("prepares = %d: a refused task got a container", drv.Prepares())
	}
	if got := counter(t, r.w, "jetrun_tasks_terminated_total", KindInvalid); got != float64(len(replies)) {
		t.Errorf("terminated{reason=invalid} = %v, want %d", got, len(replies))
	}
	// The id "status" was never cancelled by r-cancel-id's events.
	e.submit(task("status", "echo", "fine"))
	if res := e.result("status", 10*time.Second); res.Status != messages.ResultSuccess {
		t.Errorf("task status: %+v, want success", res)
	}
}

// A reply prefix outside the events stream gets every event live, and
// nothing of the task is stored in the events stream.
func TestCustomReplyOutsideEventsStream(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	sub, err := e.nc.SubscribeSync("myapp.replies.c1.>")
	if err != nil {
		t.Fatal(err)
	}
	e.submit(&messages.Task{ID: "c1", Image: "jetrun-testee", Cmd: []string{"echo", "hi"}, Reply: "myapp.replies.c1"})
	var states []string
	var out strings.Builder
	var res *messages.Result
	deadline := time.Now().Add(10 * time.Second)
	for res == nil {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("waiting for events on myapp.replies.c1: %v (states so far %v)", err, states)
		}
		switch m.Subject {
		case "myapp.replies.c1.status":
			s, _ := messages.DecodeStatus(m.Data)
			states = append(states, s.State)
		case "myapp.replies.c1.log":
			l, _ := messages.DecodeLog(m.Data)
			out.Write(l.Data)
		case "myapp.replies.c1.result":
			if res, err = messages.DecodeResult(m.Data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if res.Status != messages.ResultSuccess || out.String() != "hi\n" || fmt.Sprint(states) != "[preparing running]" {
		t.Errorf("result %s, output %q, states %v; want success, \"hi\\n\", [preparing running]", res.Status, out.String(), states)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not acked")
	if n := e.streamMsgs(messages.EventsStream, ">"); n != 0 {
		t.Errorf("%d events stored in %s for a task replying elsewhere", n, messages.EventsStream)
	}
}

// Each way a delivery is terminated is counted under its fixed kind.
func TestTerminationKinds(t *testing.T) {
	e := newEnv(t)
	allow := driver.AllowList{Images: []string{"docker.io/library/jetrun-testee:*"}}
	drv := fake.New(fake.Options{Allow: allow})
	cfg := testConfig("w1")
	cfg.Concurrency = 1
	cfg.MaxDeliver = 1
	cfg.Policy.Allow = allow
	r := e.start(cfg, drv)

	undecodable, _ := msgpack.Marshal(map[string]any{"id": "k-undecodable", "image": "x", "cmd": 42})
	for _, tc := range []struct {
		id    string
		setup func()
		send  func()
		want  Kind
	}{
		{"k-undecodable", nil, func() { e.submitRaw("k-undecodable", undecodable) }, KindUndecodable},
		{"k-invalid", nil, func() { e.submit(&messages.Task{ID: "k-invalid"}) }, KindInvalid},
		{"k-policy", nil, func() { e.submit(&messages.Task{ID: "k-policy", Image: "evil.example/miner"}) }, KindPolicy},
		{"k-prepare", func() { drv.FailPrepare(driver.Permanent(errors.New("no such image"))) }, nil, KindPrepare},
		{"k-panic", func() {
			drv.PanicOn(func(stage string, tk driver.ContainerTask) bool { return tk.Id() == "k-panic" })
		}, nil, KindPanic},
		{"k-last", func() {
			errs := make([]error, 100)
			for i := range errs {
				errs[i] = driver.Transient(errors.New("registry down"))
			}
			drv.FailPrepare(errs...)
		}, nil, KindLastDelivery},
	} {
		t.Run(string(tc.want), func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			if tc.send == nil {
				e.submit(task(tc.id, "echo", "x"))
			} else {
				tc.send()
			}
			res := e.result(tc.id, 10*time.Second)
			if res.Status != messages.ResultError {
				t.Errorf("result %+v, want an error", res)
			}
			natstest.Eventually(t, 5*time.Second, func() bool {
				return counter(t, r.w, "jetrun_tasks_terminated_total", tc.want) == 1
			}, "terminated{reason=%q} never 1", tc.want)
		})
	}
	assertMetricLabels(t, r.w, "jetrun_tasks_terminated_total", terminateKinds)
	assertMetricLabels(t, r.w, "jetrun_tasks_requeued_total", requeueKinds)
}

// assertMetricLabels checks that every reason label of metric is a Kind
// of kinds.
func assertMetricLabels(t *testing.T, w *Worker, metric string, kinds []Kind) {
	t.Helper()
	for reason := range reasons(t, w, metric) {
		if !slices.Contains(kinds, Kind(reason)) {
			t.Errorf("%s{reason=%q} is not one of the kinds %v", metric, reason, kinds)
		}
	}
}

// counter is the value of metric{reason=kind} as /metrics shows it.
func counter(t *testing.T, w *Worker, metric string, kind Kind) float64 {
	t.Helper()
	return reasons(t, w, metric)[string(kind)]
}

// reasons maps each reason label of counter metric to its value.
func reasons(t *testing.T, w *Worker, metric string) map[string]float64 {
	t.Helper()
	mfs, err := w.m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// A cancel reason beyond the protocol's 1024 bytes is cut, so a huge one
// cannot make the result unpublishable: the task ends cancelled on its
// first delivery, with a bounded error.
func TestLongCancelReasonIsCut(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	for id, n := range map[string]int{"c-5k": 5000, "c-900k": 900 << 10} {
		e.submit(task(id, "sleep", "10m"))
		e.waitState(id, messages.StateRunning, 10*time.Second)
		e.cancelTask(id, strings.Repeat("é", n/2))
		res := e.result(id, 10*time.Second)
		if res.Status != messages.ResultCancelled || res.Attempt != 1 {
			t.Errorf("%s: status %s attempt %d, want cancelled on attempt 1", id, res.Status, res.Attempt)
		}
		if len(res.Error) > messages.MaxReasonLen+64 || !strings.HasSuffix(res.Error, "…") {
			t.Errorf("%s: error is %d bytes ending %q; want the reason cut to %d bytes", id, len(res.Error), res.Error[max(0, len(res.Error)-8):], messages.MaxReasonLen)
		}
	}
	// A cancel stored while the task is queued is cut the same way.
	q := newEnv(t)
	q.submit(task("c-stored", "echo", "never"))
	q.cancelTask("c-stored", strings.Repeat("x", 5000))
	q.start(testConfig("w1"), fake.New(fake.Options{}))
	if res := q.result("c-stored", 10*time.Second); res.Status != messages.ResultCancelled || len(res.Error) > messages.MaxReasonLen+64 {
		t.Errorf("stored cancel: status %s, error of %d bytes", res.Status, len(res.Error))
	}
}

// A 1 MiB message nested a million arrays deep, with a readable id, once
// cost a worker about 256 MiB of goroutine stack each (its id was read
// with an unbounded decoder). Four of them are terminated as undecodable
// while the worker's stacks stay small, and the worker goes on.
func TestDeeplyNestedMessagesDoNotExhaustMemory(t *testing.T) {
	e := newEnv(t)
	r := e.start(testConfig("w1"), fake.New(fake.Options{}))
	bomb := append([]byte{0x82, 0xa2, 'i', 'd', 0xa4, 'b', 'o', 'm', 'b', 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 1<<20-1024)...)
	bomb = append(bomb, 0xc0)
	for i := range 4 {
		e.submitRaw(fmt.Sprintf("bomb-%d", i), bomb)
	}
	natstest.Eventually(t, 20*time.Second, func() bool {
		return counter(t, r.w, "jetrun_tasks_terminated_total", KindUndecodable) == 4
	}, "nested messages not terminated as undecodable")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if ms.StackSys > 64<<20 {
		t.Errorf("goroutine stacks took %d MiB from the OS; want well under the 256 MiB one such message cost", ms.StackSys>>20)
	}
	e.submit(task("after-bombs", "echo", "fine"))
	if res := e.result("after-bombs", 10*time.Second); res.Status != messages.ResultSuccess {
		t.Errorf("worker did not go on: %+v", res)
	}
}

// Issue 12 #1: an image its registry keeps refusing fails the task on its
// first delivery once the retry budget is spent, and the reason is in the
// preparing status meanwhile (it used to retry through every delivery, 5½
// minutes, with no reason shown).
func TestUnavailableImageFailsWithinTheRetryBudget(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	errs := make([]error, 200)
	for i := range errs {
		errs[i] = driver.Transient(fmt.Errorf("%w: pull image \"127.0.0.1:1/nope\": connection refused", driver.ErrImageUnavailable))
	}
	drv.FailPrepare(errs...)
	cfg := testConfig("w1")
	cfg.PrepareMaxElapsed = 300 * time.Millisecond
	r := e.start(cfg, drv)
	e.submit(task("no-image", "echo", "never"))
	res := e.result("no-image", 10*time.Second)
	if res.Status != messages.ResultError || res.Attempt != 1 || !strings.Contains(res.Error, `"127.0.0.1:1/nope"`) || !strings.Contains(res.Error, "still unavailable") {
		t.Errorf("result %+v; want an error on attempt 1 naming the image", res)
	}
	var reasons int
	for _, s := range e.statuses("no-image") {
		if s.State == messages.StatePreparing && strings.Contains(s.Detail, "connection refused") {
			reasons++
		}
	}
	if reasons == 0 {
		t.Error("no preparing status carried the retry's reason")
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not terminated")
	if got := counter(t, r.w, "jetrun_tasks_terminated_total", KindPrepare); got != 1 {
		t.Errorf("terminated{reason=prepare} = %v, want 1", got)
	}
}

// The container's jetrun.attempt label is the task's run: a task whose
// first run was lost with its worker runs its container labelled 2.
func TestAttemptLabelIsTheRun(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	labels := make(chan map[string]string, 1)
	drv.OnRun(func(tk driver.ContainerTask) { labels <- tk.Labels() })
	e.start(testConfig("w1"), drv)
	// A first run whose worker died, as a worker records it.
	data, err := messages.Encode(&messages.Run{ID: "relabel", Run: 1, Worker: "gone"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.js.Publish(t.Context(), messages.NewSubjects("").Run("relabel"), data); err != nil {
		t.Fatal(err)
	}
	e.submit(task("relabel", "echo", "ok"))
	res := e.result("relabel", 10*time.Second)
	got := <-labels
	if res.Status != messages.ResultSuccess || res.Attempt != 2 || got[LabelAttempt] != "2" {
		t.Errorf("result attempt %d (%s), container label %s=%q; want both 2", res.Attempt, res.Status, LabelAttempt, got[LabelAttempt])
	}
}
