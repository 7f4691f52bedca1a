package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage/testee"
	"github.com/jetrun/jetrun/messages"
)

func TestTaskRunsWithEventsInOrder(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{StatInterval: 20 * time.Millisecond})
	drv.SimulatePull("jetrun-testee:latest", 40<<20, 3, 10*time.Millisecond)
	e.start(testConfig("w1"), drv)
	e.submit(task("t1", "echo", "hello", ";", "echoerr", "oops", ";", "sleep", "300ms", ";", "exit", "3"))

	r := e.result("t1", 10*time.Second)
	if r.Status != messages.ResultError || r.ExitCode != 3 || r.Worker != "w1" || r.Attempt != 1 {
		t.Fatalf("result = %+v, want error, exit 3, by w1 on attempt 1", r)
	}
	if r.Started.IsZero() || r.Finished.Before(r.Started) {
		t.Errorf("started %v, finished %v", r.Started, r.Finished)
	}
	if len(r.Stats) == 0 || r.Stats[0].Metrics[driver.MetricMemLimit] != uint64(DefaultMemory) {
		t.Errorf("result stats = %v, want samples with the default memory limit", r.Stats)
	}
	if r.LogBytes != int64(len("hello\noops\n")) || r.LogDropped != 0 {
		t.Errorf("log bytes %d dropped %d", r.LogBytes, r.LogDropped)
	}

	var states []string
	var out, errs bytes.Buffer
	var seqs []uint64
	stats := 0
	for _, m := range e.events("t1") {
		switch {
		case strings.HasSuffix(m.Subject, ".status"):
			s, _ := messages.DecodeStatus(m.Data)
			if len(states) == 0 || states[len(states)-1] != s.State {
				states = append(states, s.State)
			}
			if s.State == messages.StatePulling && !strings.Contains(s.Detail, "MiB") {
				t.Errorf("pull detail %q has no progress", s.Detail)
			}
		case strings.HasSuffix(m.Subject, ".log"):
			l, _ := messages.DecodeLog(m.Data)
			seqs = append(seqs, l.Seq)
			if l.Stream == messages.StreamStdout {
				out.Write(l.Data)
			} else {
				errs.Write(l.Data)
			}
		case strings.HasSuffix(m.Subject, ".stat"):
			stats++
		}
	}
	if want := []string{"preparing", "pulling", "running"}; fmt.Sprint(states) != fmt.Sprint(want) {
		t.Errorf("states = %v, want %v", states, want)
	}
	if out.String() != "hello\n" || errs.String() != "oops\n" {
		t.Errorf("stdout %q stderr %q", out.String(), errs.String())
	}
	for i, s := range seqs {
		if s != uint64(i) {
			t.Errorf("log seqs = %v, want 0, 1, ...", seqs)
			break
		}
	}
	if stats == 0 {
		t.Error("no stat events")
	}
	// The container is removed after the result is stored and acked.
	natstest.Eventually(t, 5*time.Second, func() bool { return drv.Live() == 0 && drv.Closes() == 1 }, "cookie closed once after the result")
	if drv.Closes() != 1 {
		t.Errorf("closes %d: cookie not closed exactly once", drv.Closes())
	}
}

func TestLogsChunkedAndCapped(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("w1")
	cfg.LogCap = 300 << 10
	e.start(cfg, fake.New(fake.Options{}))
	e.submit(task("big", "write", "1"))
	r := e.result("big", 10*time.Second)
	if r.Status != messages.ResultSuccess || r.LogBytes != 300<<10 || r.LogDropped != 1<<20-300<<10 {
		t.Fatalf("result = %+v, want success with 300 KiB published and the rest dropped", r)
	}
	var got []byte
	next := uint64(0)
	for _, m := range e.events("big") {
		if !strings.HasSuffix(m.Subject, ".log") {
			continue
		}
		l, _ := messages.DecodeLog(m.Data)
		if len(l.Data) > DefaultLogChunkSize || l.Seq != next {
			t.Fatalf("chunk seq %d (want %d) of %d bytes", l.Seq, next, len(l.Data))
		}
		next++
		got = append(got, l.Data...)
	}
	if len(got) != 300<<10 {
		t.Fatalf("published %d bytes, want %d", len(got), 300<<10)
	}
	for i, b := range got {
		if b != testee.PatternByte(int64(i)) {
			t.Fatalf("byte %d = %d, want %d", i, b, testee.PatternByte(int64(i)))
		}
	}
}

// Issue 12 #3: a cancel of an id no task had yet (mistyped, or sent too
// early) does not poison the id: a task submitted after it runs.
func TestCancelOfAnUnknownIDDoesNotApplyToALaterTask(t *testing.T) {
	e := newEnv(t)
	e.cancelTask("later", "mistyped id")
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	e.submit(task("later", "echo", "ran"))
	if r := e.result("later", 10*time.Second); r.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v; want success: the cancel came before the task", r)
	}
}

func TestCancelBeforeStart(t *testing.T) {
	e := newEnv(t)
	e.submit(task("c1", "echo", "never")) // queued: no worker yet
	e.cancelTask("c1", "changed my mind")
	drv := fake.New(fake.Options{})
	e.start(testConfig("w1"), drv)
	r := e.result("c1", 10*time.Second)
	if r.Status != messages.ResultCancelled || !strings.Contains(r.Error, "changed my mind") {
		t.Fatalf("result = %+v, want cancelled with the reason", r)
	}
	if drv.Prepares() != 0 {
		t.Errorf("prepares = %d, want no container for a task cancelled before it started", drv.Prepares())
	}
}

func TestCancelDuringRun(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	e.start(testConfig("w1"), drv)
	e.submit(task("c2", "echo", "started", ";", "ignore-sigterm", ";", "sleep", "1h"))
	e.waitState("c2", messages.StateRunning, 10*time.Second)
	e.cancelTask("c2", "user pressed stop")
	r := e.result("c2", 10*time.Second)
	if r.Status != messages.ResultCancelled || !strings.Contains(r.Error, "user pressed stop") || r.ExitCode != -1 {
		t.Fatalf("result = %+v, want cancelled, exit -1, reason in error", r)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return drv.Live() == 0 }, "container not closed after cancel")
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not acked after cancel")
}

func TestPoisonMessagesTerminatedOthersGoOn(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	e.start(testConfig("w1"), drv)

	e.submitRaw("garbage", []byte("\xc1 not msgpack at all"))
	wrongType, _ := msgpack.Marshal(map[string]any{"id": "p-type", "image": "x", "cmd": 42})
	e.submitRaw("p-type", wrongType)
	e.submit(&messages.Task{ID: "p-noimage"})
	e.submit(&messages.Task{ID: "p-badimage", Image: "UPPER/Case::bad"})
	for i := range 5 {
		e.submit(task(fmt.Sprintf("ok-%d", i), "echo", "fine"))
	}

	for _, id := range []string{"p-type", "p-noimage"} {
		r := e.result(id, 10*time.Second)
		if r.Status != messages.ResultError || r.Error == "" {
			t.Errorf("%s: result = %+v, want an error result with a reason", id, r)
		}
	}
	for i := range 5 {
		if r := e.result(fmt.Sprintf("ok-%d", i), 10*time.Second); r.Status != messages.ResultSuccess {
			t.Errorf("ok-%d: status %s", i, r.Status)
		}
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return e.tasksLeft() == 0 }, "poison messages not terminated: %d left", e.tasksLeft())
	if n := e.consumerInfo().NumRedelivered; n != 0 {
		t.Errorf("%d messages redelivered: poison must never be retried", n)
	}
}

func TestPolicyRefusals(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("w1")
	cfg.Policy.MaxTimeout = time.Minute
	cfg.Policy.DefaultTimeout = time.Minute
	cfg.Policy.MaxMemory = 512 << 20
	cfg.Policy.Allow.Images = []string{"docker.io/library/jetrun-testee:*"}
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(root, "hostroot")); err != nil {
		t.Fatal(err)
	}
	cfg.Policy.Allow.VolumeRoots = []string{root}
	drv := fake.New(fake.Options{Allow: cfg.Policy.Allow}) // as cmd/worker gives both the one allow-list
	e.start(cfg, drv)

	cases := map[string]struct {
		task *messages.Task
		want string
	}{
		"image":   {&messages.Task{ID: "r-image", Image: "evil.example.com/miner"}, "allowed images"},
		"volume":  {&messages.Task{ID: "r-volume", Image: "jetrun-testee", Volumes: [][]string{{root + "/../../etc", "/etc"}}}, "not under an allowed root"},
		"link":    {&messages.Task{ID: "r-link", Image: "jetrun-testee", Volumes: [][]string{{root + "/hostroot/etc", "/etc"}}}, "outside the allowed roots"},
		"missing": {&messages.Task{ID: "r-missing", Image: "jetrun-testee", Volumes: [][]string{{root + "/nothing", "/in"}}}, "cannot be resolved"},
		"memory":  {&messages.Task{ID: "r-memory", Image: "jetrun-testee", Memory: 1 << 30}, "above this worker's maximum"},
		"timeout": {&messages.Task{ID: "r-timeout", Image: "jetrun-testee", TimeoutMS: 3_600_000}, "above this worker's maximum"},
	}
	for _, c := range cases {
		e.submit(c.task)
	}
	ok := &messages.Task{ID: "r-ok", Image: "jetrun-testee", Volumes: [][]string{{root + "/in", "/in"}}, Memory: 256 << 20}
	e.submit(ok)
	for name, c := range cases {
		r := e.result(c.task.ID, 10*time.Second)
		if r.Status != messages.ResultError || !strings.Contains(r.Error, c.want) {
			t.Errorf("%s: result %+v, want error containing %q", name, r, c.want)
		}
	}
	if r := e.result("r-ok", 10*time.Second); r.Status != messages.ResultSuccess {
		t.Errorf("allowed task: %+v", r)
	}
	if drv.Prepares() != 1 {
		t.Errorf("prepares = %d, want 1: refused tasks get no container", drv.Prepares())
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "refused tasks not terminated")
}

func TestTransientPrepareRetriedThenSucceeds(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	drv.FailPrepare(driver.Transient(errors.New("registry 503")), driver.Transient(errors.New("registry 503")))
	r0 := e.start(testConfig("w1"), drv)
	e.submit(task("tr", "echo", "ok"))
	r := e.result("tr", 10*time.Second)
	if r.Status != messages.ResultSuccess || r.Attempt != 1 {
		t.Fatalf("result = %+v, want success on the first delivery", r)
	}
	if drv.Prepares() != 3 {
		t.Errorf("prepares = %d, want 3 (two transient failures, then success)", drv.Prepares())
	}
	if got := counterValue(t, r0.w, "jetrun_prepare_retries_total"); got != 2 {
		t.Errorf("jetrun_prepare_retries_total = %v, want 2", got)
	}
}

func TestPermanentPrepareNotRetried(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	drv.FailPrepare(driver.Permanent(errors.New("no such image")))
	e.start(testConfig("w1"), drv)
	e.submit(task("perm", "echo", "ok"))
	r := e.result("perm", 10*time.Second)
	if r.Status != messages.ResultError || !strings.Contains(r.Error, "no such image") {
		t.Fatalf("result = %+v, want error naming the cause", r)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not terminated")
	if drv.Prepares() != 1 {
		t.Errorf("prepares = %d, want 1", drv.Prepares())
	}
}

func TestTransientPrepareExhaustedEndsOnLastDelivery(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	errs := make([]error, 200)
	for i := range errs {
		errs[i] = driver.Transient(errors.New("registry down"))
	}
	drv.FailPrepare(errs...)
	cfg := testConfig("w1")
	cfg.MaxDeliver = 3
	cfg.PrepareMaxElapsed = 100 * time.Millisecond
	e.start(cfg, drv)
	e.submit(task("ex", "echo", "ok"))
	r := e.result("ex", 20*time.Second)
	if r.Status != messages.ResultError || r.Attempt != 3 || !strings.Contains(r.Error, "registry down") {
		t.Fatalf("result = %+v, want error on delivery 3 naming the cause", r)
	}
	if len(e.results("ex")) != 1 {
		t.Errorf("results = %d, want 1", len(e.results("ex")))
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not terminated")
	// Bounded: retries within each delivery are limited in time, so the
	// whole thing is a handful of calls, not a hot loop.
	if p := drv.Prepares(); p < 3 || p > 60 {
		t.Errorf("prepares = %d, want a few per delivery", p)
	}
}

func TestPanicBecomesErrorResult(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	drv.PanicOn(func(stage string, tk driver.ContainerTask) bool { return stage == fake.StageRun && tk.Id() == "boom" })
	e.start(testConfig("w1"), drv)
	e.submit(task("boom", "echo", "x"))
	e.submit(task("after", "echo", "x"))
	r := e.result("boom", 10*time.Second)
	if r.Status != messages.ResultError || !strings.Contains(r.Error, "panic") {
		t.Fatalf("result = %+v, want an error result about the panic", r)
	}
	if r := e.result("after", 10*time.Second); r.Status != messages.ResultSuccess {
		t.Fatalf("worker did not go on after a panic: %+v", r)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return drv.Live() == 0 }, "cookie of the panicking task not closed")
}

func TestWorkerKilledMidTaskSecondWorkerCompletes(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("A")
	cfg.DrainTimeout = time.Millisecond
	a := e.start(cfg, fake.New(fake.Options{}))
	e.submit(task("k1", "echo", "hi", ";", "sleep", "500ms"))
	e.waitState("k1", messages.StateRunning, 10*time.Second)
	// "Kill" A: its connection dies, so it can neither heartbeat, publish
	// nor ack; then stop it so its goroutines end.
	a.nc.Close()
	a.stop(t)

	bdrv := fake.New(fake.Options{})
	e.start(testConfig("B"), bdrv)
	r := e.result("k1", 20*time.Second)
	if r.Status != messages.ResultSuccess || r.Worker != "B" || r.Attempt != 2 {
		t.Fatalf("result = %+v, want success by B on attempt 2", r)
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not acked")
	if n := len(e.results("k1")); n != 1 {
		t.Fatalf("%d results, want exactly 1", n)
	}
}

func TestLongTaskUnderShortAckWaitRunsOnce(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("w1")
	cfg.AckWait = 2 * time.Second
	d1, d2 := fake.New(fake.Options{}), fake.New(fake.Options{})
	e.start(cfg, d1)
	cfg.WorkerID = "w2"
	e.start(cfg, d2)
	e.submit(task("long", "sleep", "6s", ";", "echo", "done"))
	r := e.result("long", 20*time.Second)
	if r.Status != messages.ResultSuccess || r.Attempt != 1 {
		t.Fatalf("result = %+v, want success on the first delivery", r)
	}
	if runs := d1.Runs() + d2.Runs(); runs != 1 {
		t.Fatalf("task ran %d times under a 2s AckWait, want once", runs)
	}
	if n := e.consumerInfo().NumRedelivered; n != 0 {
		t.Errorf("redelivered %d", n)
	}
}

func TestDrainOnShutdownFinishesRunningTasks(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	r0 := e.start(testConfig("w1"), drv)
	e.submit(task("d1", "sleep", "500ms", ";", "echo", "done"))
	e.waitState("d1", messages.StateRunning, 10*time.Second)
	r0.stop(t) // like SIGTERM: Run drains, within DrainTimeout (5s)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, _ := e.js.Stream(ctx, messages.EventsStream)
	if _, err := st.GetLastMsgForSubject(ctx, messages.ResultSubject(messages.NewSubjects("").Events("d1"))); err != nil {
		t.Fatalf("no result stored when Run returned after draining: %v", err)
	}
	if r := e.result("d1", time.Second); r.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v", r)
	}
	if e.tasksLeft() != 0 {
		t.Error("drained task not acked")
	}
}

func TestDrainTimeoutHandsTaskBackAtOnce(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("A")
	cfg.AckWait = time.Minute // a hand-back must not wait for the lease
	cfg.DrainTimeout = 100 * time.Millisecond
	a := e.start(cfg, fake.New(fake.Options{}))
	// Long enough that the worker is surely stopped while it runs, even on
	// a loaded machine.
	e.submit(task("h1", "sleep", "3s", ";", "echo", "done"))
	e.waitState("h1", messages.StateRunning, 10*time.Second)
	a.stop(t)
	if n := len(e.results("h1")); n != 0 {
		t.Fatalf("%d results after shutdown, want none (the task goes to another worker)", n)
	}
	cfg.WorkerID = "B"
	e.start(cfg, fake.New(fake.Options{}))
	r := e.result("h1", 15*time.Second)
	if r.Worker != "B" || r.Attempt != 2 || r.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v, want success by B on attempt 2", r)
	}
}

func TestConcurrencyNeverAboveN(t *testing.T) {
	e := newEnv(t)
	const n = 3
	drv := fake.New(fake.Options{})
	cfg := testConfig("w1")
	cfg.Concurrency = n
	var mu sync.Mutex
	maxAckPending := 0
	drv.OnRun(func(driver.ContainerTask) {
		// Sample the server's view while a task runs: unacked tasks held.
		ci := e.consumerInfo()
		mu.Lock()
		maxAckPending = max(maxAckPending, ci.NumAckPending)
		mu.Unlock()
	})
	e.start(cfg, drv)
	for i := range 30 {
		e.submit(task(fmt.Sprintf("n-%d", i), "sleep", "30ms"))
	}
	for i := range 30 {
		e.result(fmt.Sprintf("n-%d", i), 30*time.Second)
	}
	if drv.MaxRunning() > n || drv.MaxLive() > n {
		t.Errorf("max running %d, max containers %d: above concurrency %d", drv.MaxRunning(), drv.MaxLive(), n)
	}
	if drv.MaxRunning() < 2 {
		t.Errorf("max running %d: tasks never ran in parallel", drv.MaxRunning())
	}
	mu.Lock()
	defer mu.Unlock()
	if maxAckPending > n {
		t.Errorf("server saw %d unacked tasks for one worker with %d slots: it prefetched", maxAckPending, n)
	}
}

func TestThousandTasksOneResultEach(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	e := newEnv(t)
	cfg := testConfig("w1")
	cfg.Concurrency = 16
	e.start(cfg, fake.New(fake.Options{}))
	cfg.WorkerID = "w2"
	e.start(cfg, fake.New(fake.Options{}))
	const total = 1000
	for i := range total {
		e.submit(task(fmt.Sprintf("m-%04d", i), "echo", "x"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	filter := messages.NewSubjects("").Prefix + ".events.*.result"
	var subjects map[string]uint64
	natstest.Eventually(t, 90*time.Second, func() bool {
		st, err := e.js.Stream(ctx, messages.EventsStream)
		if err != nil {
			return false
		}
		info, err := st.Info(ctx, jetstreamSubjectFilter(filter))
		if err != nil {
			return false
		}
		subjects = info.State.Subjects
		return len(subjects) == total
	}, "results for %d of %d tasks", len(subjects), total)
	for s, n := range subjects {
		if n != 1 {
			t.Errorf("%s: %d results", s, n)
		}
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return e.tasksLeft() == 0 }, "tasks left in the stream")
}

func TestRebindsAfterConsumerDeleted(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	e.submit(task("before", "echo", "x"))
	e.result("before", 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.js.DeleteConsumer(ctx, messages.TasksStream, messages.ConsumerName(messages.DefaultQueue)); err != nil {
		t.Fatal(err)
	}
	e.submit(task("after", "echo", "x"))
	if r := e.result("after", 20*time.Second); r.Status != messages.ResultSuccess {
		t.Fatalf("result = %+v", r)
	}
}

func TestRedeliveredTaskWithResultNotRunAgain(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	e.start(testConfig("w1"), drv)
	e.submit(task("once", "echo", "x"))
	e.result("once", 10*time.Second)
	// The same task again, past the submit dedupe (another message id), as
	// a redelivery after a lost ack would look.
	data, _ := messages.Encode(task("once", "echo", "x"))
	e.submitRaw("once-again", data)
	natstest.Eventually(t, 10*time.Second, func() bool { return e.tasksLeft() == 0 }, "second copy not acked")
	if drv.Runs() != 1 || len(e.results("once")) != 1 {
		t.Fatalf("runs %d results %d, want 1 and 1", drv.Runs(), len(e.results("once")))
	}
}

func TestTimeoutAndOOM(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w1"), fake.New(fake.Options{}))
	e.submit(&messages.Task{ID: "slow", Image: "i", Cmd: []string{"sleep", "1h"}, TimeoutMS: 200})
	e.submit(&messages.Task{ID: "fat", Image: "i", Cmd: []string{"alloc", "64"}, Memory: 32 << 20})
	if r := e.result("slow", 10*time.Second); r.Status != messages.ResultTimeout || r.ExitCode != -1 {
		t.Errorf("slow: %+v, want timeout", r)
	}
	if r := e.result("fat", 10*time.Second); r.Status != messages.ResultKilled || !r.OOM {
		t.Errorf("fat: %+v, want killed with oom", r)
	}
}

func TestWorkerKilledOnLastDeliveryStillGetsAResult(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("A")
	cfg.MaxDeliver = 1
	cfg.DrainTimeout = time.Millisecond
	a := e.start(cfg, fake.New(fake.Options{}))
	e.submit(task("last", "echo", "hi", ";", "sleep", "500ms"))
	e.waitState("last", messages.StateRunning, 10*time.Second)
	a.nc.Close() // A dies during the only allowed attempt
	a.stop(t)

	bcfg := testConfig("B")
	bcfg.MaxDeliver = 1
	bdrv := fake.New(fake.Options{})
	e.start(bcfg, bdrv)
	r := e.result("last", 20*time.Second)
	if r.Status != messages.ResultError || r.Worker != "B" || r.Attempt != 2 || !strings.Contains(r.Error, "without finishing") {
		t.Fatalf("result = %+v, want B's give-up error on the spare delivery", r)
	}
	if bdrv.Prepares() != 0 {
		t.Errorf("B prepared the task %d times; the spare delivery must not run it", bdrv.Prepares())
	}
	natstest.Eventually(t, 5*time.Second, func() bool { return e.tasksLeft() == 0 }, "task not terminated")
	if n := len(e.results("last")); n != 1 {
		t.Fatalf("%d results, want exactly 1", n)
	}
}
