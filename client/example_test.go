package client_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// A producer that follows one task: its output as it comes, then its
// result.
func Example() {
	nc, stop := startJetrun() // a NATS server and a worker, for the example
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(nc, client.WithQueue("default"))
	if err != nil {
		fmt.Println(err)
		return
	}
	h, err := c.Submit(ctx, &messages.Task{
		ID:    "example-hello",
		Image: "busybox",
		Cmd:   []string{"echo", "hello", "from", "jetrun"},
	})
	if err != nil {
		fmt.Println(err) // errors.Is(err, client.ErrNoTaskStream): no worker ever started
		return
	}
	defer h.Close()

	for ev := range h.Events() { // closed once the result is in
		if ev.Log != nil {
			fmt.Printf("%s: %s", ev.Log.Stream, ev.Log.Data)
		}
	}
	res, err := h.Result(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("result:", res.Status, "exit code", res.ExitCode)
	// Output:
	// stdout: hello from jetrun
	// result: success exit code 0
}

// An event-driven producer that fires many tasks without following each:
// it watches results first, then submits asynchronously with a bounded
// number of publishes in flight, and reacts to every result as it comes.
func Example_eventDriven() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, err := client.New(nc, client.WithMaxPending(64))
	if err != nil {
		fmt.Println(err)
		return
	}
	tasks := map[string][]string{
		"resize-1": {"echo", "ok"},
		"resize-2": {"echo", "ok"},
		"resize-3": {"echoerr", "corrupt input", ";", "exit", "3"},
	}

	var mu sync.Mutex
	var lines []string
	finished := make(chan struct{})
	stopWatch, err := c.WatchResults(func(r *messages.Result) {
		mu.Lock()
		defer mu.Unlock()
		if _, ours := tasks[r.ID]; !ours {
			return
		}
		lines = append(lines, fmt.Sprintf("%s: %s (exit %d)", r.ID, r.Status, r.ExitCode))
		if len(lines) == len(tasks) {
			close(finished)
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stopWatch()

	var pending []*client.Pending
	for id, cmd := range tasks {
		p, err := c.SubmitAsync(ctx, &messages.Task{ID: id, Image: "busybox", Cmd: cmd})
		if err != nil {
			fmt.Println(err)
			return
		}
		pending = append(pending, p)
	}
	for _, p := range pending {
		if _, err := p.Wait(ctx); err != nil {
			fmt.Println("not submitted:", err) // safe to submit again with the same id
		}
	}

	select {
	case <-finished:
	case <-ctx.Done():
		fmt.Println("results did not come")
		return
	}
	mu.Lock()
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	mu.Unlock()
	// Output:
	// resize-1: success (exit 0)
	// resize-2: success (exit 0)
	// resize-3: error (exit 3)
}

// Following a task to its end, as submit run does: its status and its
// complete output as they come (replayed from JETRUN_EVENTS, so a slow
// writer loses nothing), then its result.
func ExampleHandle_Follow() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, _ := client.New(nc)
	h, err := c.Submit(ctx, &messages.Task{ID: "example-follow", Image: "busybox", Cmd: []string{"echo", "building", ";", "echoerr", "warning: old cache", ";", "exit", "2"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	ran := false
	f, err := h.Follow(ctx, client.FollowOptions{
		// OnStatus and OnLog may run at once: only OnLog prints.
		OnStatus: func(s *messages.Status) { ran = ran || s.State == messages.StateRunning },
		OnLog: func(l *messages.Log) error {
			_, err := fmt.Printf("%s: %s", l.Stream, l.Data)
			return err
		},
	})
	if err != nil {
		fmt.Println(err) // no result: ctx ended, or the connection closed
		return
	}
	if f.OutputErr != nil || f.Lost > 0 {
		fmt.Println("output incomplete:", f.OutputErr, f.Lost)
	}
	fmt.Println("ran:", ran, "result:", f.Result.Status, "exit code", f.Result.ExitCode)
	// Output:
	// stdout: building
	// stderr: warning: old cache
	// ran: true result: error exit code 2
}

// Cancelling a task that runs too long.
func ExampleHandle_Cancel() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, _ := client.New(nc)
	h, err := c.Submit(ctx, &messages.Task{ID: "example-long", Image: "busybox", Cmd: []string{"sleep", "1h"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	for ev := range h.Events() {
		if ev.Status != nil && ev.Status.State == messages.StateRunning {
			break
		}
	}
	if err := h.Cancel(ctx, "deploy superseded"); err != nil {
		fmt.Println(err)
		return
	}
	res, err := h.Result(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Status)
	// Output:
	// cancelled
}

// Looking a task up after the fact: its latest state and its full output.
func ExampleClient_Logs() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, _ := client.New(nc)
	if _, err := c.Run(ctx, &messages.Task{ID: "example-report", Image: "busybox", Cmd: []string{"echo", "line 1", ";", "echo", "line 2"}}); err != nil {
		fmt.Println(err)
		return
	}

	// Later, perhaps in another process, knowing only the id: its output,
	// followed until the result is stored, then its final state.
	err := c.Logs(ctx, "example-report", true, func(l *messages.Log) error {
		_, err := os.Stdout.Write(l.Data)
		return err
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	st, err := c.Status(ctx, "example-report")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("done:", st.Done(), st.Result.Status)
	// Output:
	// line 1
	// line 2
	// done: true success
}

// Listing tasks: the failed ones of a queue, newest first, page by page.
func ExampleClient_List() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, _ := client.New(nc)
	for i, code := range []string{"0", "3", "0", "4"} {
		if _, err := c.Run(ctx, &messages.Task{ID: fmt.Sprintf("nightly-%d", i), Image: "busybox", Cmd: []string{"exit", code}}); err != nil {
			fmt.Println(err)
			return
		}
	}
	o := client.ListOptions{State: client.StateFailed, Queue: messages.DefaultQueue, Limit: 1}
	for {
		page, err := c.List(ctx, o)
		if err != nil {
			fmt.Println(err)
			return
		}
		for _, t := range page.Tasks {
			fmt.Println(t.ID, t.State, t.ExitCode)
		}
		if !page.More {
			break
		}
		o.Before = page.Next
	}
	// Output:
	// nightly-3 failed 4
	// nightly-1 failed 3
}

// Retrying a failed task once its cause is fixed: the retry is a new task
// linked to the first, and inspecting either shows the link.
func ExampleClient_Retry() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c, _ := client.New(nc)
	if _, err := c.Run(ctx, &messages.Task{ID: "import-7", Image: "busybox", Cmd: []string{"exit", "1"}}); err != nil {
		fmt.Println(err)
		return
	}
	next, err := c.Retry(ctx, "import-7")
	if err != nil {
		fmt.Println(err)
		return
	}
	first, _ := c.Inspect(ctx, "import-7")
	fmt.Println(next, "retries", first.ID, "-", first.RetriedAs)
	if _, err := c.Retry(ctx, "import-7"); errors.Is(err, client.ErrAlreadyRetried) {
		fmt.Println("a second retry of import-7 is refused")
	}
	// Output:
	// import-7-r1 retries import-7 - import-7-r1
	// a second retry of import-7 is refused
}

// startJetrun starts what a producer finds in production, in process: a
// NATS server with JetStream and a worker (on the fake driver, which runs
// the testee steps instead of containers). stop tears both down.
func startJetrun() (nc *nats.Conn, stop func()) {
	dir, err := os.MkdirTemp("", "jetrun-example-")
	if err != nil {
		panic(err)
	}
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats-server not ready")
	}
	wnc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	// Workers create the streams when they start; do it before returning so
	// the first submit cannot race the worker's start.
	js, err := jetstream.New(wnc)
	if err != nil {
		panic(err)
	}
	if err := worker.EnsureStreams(context.Background(), js, messages.DefaultPrefix); err != nil {
		panic(err)
	}
	w, err := worker.New(wnc, fake.New(fake.Options{}), worker.Config{WorkerID: "example", Concurrency: 4, PullWait: 200 * time.Millisecond},
		slog.New(slog.DiscardHandler))
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	nc, err = nats.Connect(srv.ClientURL())
	if err != nil {
		panic(err)
	}
	return nc, func() {
		nc.Close()
		cancel()
		<-done
		wnc.Close()
		srv.Shutdown()
		srv.WaitForShutdown()
		os.RemoveAll(dir)
	}
}
