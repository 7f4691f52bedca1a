package main

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/messages"
)

// worker is one run of the worker command on an embedded server, stopped
// as main stops it: drain on the first signal, abort on the second.
type workerRun struct {
	drain, abort func()
	done         chan error
	stderr       *testproc.Buffer
}

func startRun(t *testing.T, args ...string) *workerRun {
	t.Helper()
	drain, startDrain := context.WithCancel(context.Background())
	abort, startAbort := context.WithCancel(context.Background())
	r := &workerRun{drain: startDrain, abort: startAbort, done: make(chan error, 1), stderr: &testproc.Buffer{}}
	go func() { r.done <- run(drain, abort, args, &testproc.Buffer{}, r.stderr) }()
	t.Cleanup(func() {
		startDrain()
		startAbort()
		r.wait(t, time.Minute)
	})
	return r
}

// wait waits for run to return, at most within.
func (r *workerRun) wait(t *testing.T, within time.Duration) {
	t.Helper()
	if r.done == nil {
		return
	}
	select {
	case err := <-r.done:
		r.done = nil
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(within):
		t.Fatalf("worker did not stop within %v; stderr:\n%s", within, r.stderr.String())
	}
}

// workerContainers counts the containers, running or not, labelled as
// worker id's.
func workerContainers(t *testing.T, id string) int {
	t.Helper()
	cli := testimage.Docker(t)
	list, err := cli.ContainerList(t.Context(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", docker.LabelWorker+"="+id))})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

// lastStatus is the last stored status event of task id, or nil.
func lastStatus(js jetstream.JetStream, id string) *messages.Status {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, messages.EventsStream)
	if err != nil {
		return nil
	}
	m, err := st.GetLastMsgForSubject(ctx, messages.StatusSubject(messages.NewSubjects("").Events(id)))
	if err != nil {
		return nil
	}
	s, _ := messages.DecodeStatus(m.Data)
	return s
}

// A second signal during a drain cancels the running tasks, hands them
// back at once (another worker runs them again well before their lease
// would have expired) and leaves no container behind.
func TestSecondSignalHandsBackAndRemovesContainers(t *testing.T) {
	image := testimage.Ensure(t)
	srv := natstest.Start(t) // outlives both workers, as a NATS deployment does
	provisionStreams(t, srv.ClientURL())
	args := func(id string) []string {
		return []string{"--nats", srv.ClientURL(), "--metrics-addr", "", "--worker-id", id,
			"--concurrency", "2", "--ack-wait", "10m", "--drain-timeout", "10m"}
	}
	first := startRun(t, args("stop-first")...)
	nc := natstest.Connect(t, srv)
	js, _ := jetstream.New(nc)
	ids := []string{"long-1", "long-2"}
	for _, id := range ids {
		data, _ := messages.Encode(&messages.Task{ID: id, Image: image, Cmd: []string{"sleep", "10m"}})
		natstest.Eventually(t, 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := js.Publish(ctx, "jetrun.tasks.default", data, jetstream.WithMsgID(id))
			return err == nil
		}, "could not publish %s", id)
	}
	running := func(worker string, attempt int) func() bool {
		return func() bool {
			for _, id := range ids {
				s := lastStatus(js, id)
				if s == nil || s.State != messages.StateRunning || s.Worker != worker || s.Attempt != attempt {
					return false
				}
			}
			return true
		}
	}
	natstest.Eventually(t, time.Minute, running("stop-first", 1), "tasks never ran on the first worker")
	if n := workerContainers(t, "stop-first"); n != 2 {
		t.Fatalf("%d containers of the first worker, want 2", n)
	}

	first.drain() // first signal: the worker waits for its tasks
	first.abort() // second signal
	first.wait(t, 30*time.Second)
	if n := workerContainers(t, "stop-first"); n != 0 {
		t.Errorf("%d containers of the first worker left after the second signal", n)
	}

	// The tasks were handed back, not left to their 10 minute lease: a new
	// worker on the same store runs them again at once.
	second := startRun(t, args("stop-second")...)
	defer func() {
		if t.Failed() {
			t.Logf("first worker:\n%s\nsecond worker:\n%s", first.stderr.String(), second.stderr.String())
			for _, id := range ids {
				t.Logf("%s: last status %+v", id, lastStatus(js, id))
			}
		}
	}()
	natstest.Eventually(t, time.Minute, running("stop-second", 2), "handed back tasks not run again by the second worker")
}
