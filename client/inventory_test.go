package client_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// ids lists the ids of a page, in order.
func ids(p *client.TaskPage) []string {
	var out []string
	for _, s := range p.Tasks {
		out = append(out, s.ID)
	}
	return out
}

// runAll submits tasks and waits for each result.
func runAll(t *testing.T, c *client.Client, tasks ...*messages.Task) {
	t.Helper()
	for _, tk := range tasks {
		if _, err := submit(t, c, tk).Result(testCtx(t)); err != nil {
			t.Fatalf("result of %s: %v", tk.ID, err)
		}
	}
}

func TestListInspectRetryPurge(t *testing.T) {
	e := newEnv(t)
	drv := startWorker(t, e)
	drv.MarkMissing("missing-image")
	ctx := testCtx(t)
	runAll(t, e.c,
		task("ok-1", "echo", "hi"),
		task("bad-1", "exit", "3"),
		&messages.Task{ID: "gone-1", Image: "missing-image", Input: []byte("stdin bytes")},
		task("ok-2", "echo", "there"),
	)
	// A running task: held by the worker until cancelled.
	running := submit(t, e.c, task("slow-1", "sleep", "1h"))
	natstest.Eventually(t, 10*time.Second, func() bool {
		p, err := e.c.List(ctx, client.ListOptions{State: client.StateRunning})
		return err == nil && slices.Equal(ids(p), []string{"slow-1"})
	}, "slow-1 never listed as running")

	natstest.Eventually(t, 10*time.Second, func() bool {
		st, err := e.c.Stats(ctx, "slow-1")
		return err == nil && len(st) > 0 && st[0].ID == "slow-1" && !st[0].Time.IsZero()
	}, "no resource samples of the running slow-1")

	all, err := e.c.List(ctx, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(all), []string{"slow-1", "ok-2", "gone-1", "bad-1", "ok-1"}; !slices.Equal(got, want) {
		t.Fatalf("list = %v, want newest first %v", got, want)
	}
	failed, err := e.c.List(ctx, client.ListOptions{State: client.StateFailed})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(failed); !slices.Equal(got, []string{"gone-1", "bad-1"}) {
		t.Fatalf("failed = %v", got)
	}
	if s := failed.Tasks[1]; s.ExitCode != 3 || s.Status != messages.ResultError || s.Worker != "test-worker" || s.Attempt != 1 || !s.Dead || s.Queue != "default" {
		t.Fatalf("bad-1 summary = %+v", s)
	}
	// Paging: two pages of two, then one.
	var paged []string
	o := client.ListOptions{Limit: 2, State: client.StateSucceeded}
	for range 3 {
		p, err := e.c.List(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, ids(p)...)
		if !p.More {
			break
		}
		o.Before = p.Next
	}
	if !slices.Equal(paged, []string{"ok-2", "ok-1"}) {
		t.Fatalf("paged succeeded = %v", paged)
	}
	if p, err := e.c.List(ctx, client.ListOptions{Worker: "someone-else"}); err != nil || len(p.Tasks) != 0 {
		t.Fatalf("another worker's tasks = %v, %v", ids(p), err)
	}

	d, err := e.c.Inspect(ctx, "gone-1")
	if err != nil {
		t.Fatal(err)
	}
	if d.State != client.StateFailed || d.Spec == nil || d.Spec.Image != "missing-image" || d.Spec.Input != nil || d.InputBytes != len("stdin bytes") || d.Result == nil || d.Runs != 1 {
		t.Fatalf("inspect gone-1 = %+v", d)
	}
	if _, err := e.c.Inspect(ctx, "never-submitted"); !errors.Is(err, client.ErrUnknownTask) {
		t.Fatalf("inspect unknown: %v", err)
	}

	// Retry needs a finished task, then runs its retry once.
	if _, err := e.c.Retry(ctx, "slow-1"); !errors.Is(err, client.ErrNotFinished) {
		t.Fatalf("retry running: %v", err)
	}
	next, err := e.c.Retry(ctx, "bad-1")
	if err != nil || next != "bad-1-r1" {
		t.Fatalf("retry = %q, %v", next, err)
	}
	if _, err := e.c.Retry(ctx, "bad-1"); !errors.Is(err, client.ErrAlreadyRetried) {
		t.Fatalf("second retry: %v", err)
	}
	natstest.Eventually(t, 10*time.Second, func() bool {
		d, err := e.c.Inspect(ctx, "bad-1-r1")
		return err == nil && d.State == client.StateFailed && d.RetryOf == "bad-1"
	}, "the retry never finished")
	if d, err := e.c.Inspect(ctx, "bad-1"); err != nil || d.RetriedAs != "bad-1-r1" {
		t.Fatalf("inspect bad-1: retried as %q, %v", d.RetriedAs, err)
	}
	// The input is kept in the dead letter and runs again.
	if next, err := e.c.Retry(ctx, "gone-1"); err != nil || next != "gone-1-r1" {
		t.Fatalf("retry gone-1 = %q, %v", next, err)
	}

	// Purge removes the dead letter; a task with an input then cannot be
	// retried, and the error says why.
	natstest.Eventually(t, 10*time.Second, func() bool {
		d, err := e.c.Inspect(ctx, "gone-1-r1")
		return err == nil && d.State == client.StateFailed
	}, "the retry of gone-1 never finished")
	for _, id := range []string{"bad-1-r1", "gone-1-r1"} {
		if err := e.c.Purge(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := e.c.Purge(ctx, id); !errors.Is(err, client.ErrNotDead) {
			t.Fatalf("second purge of %s: %v", id, err)
		}
	}
	if _, err := e.c.Retry(ctx, "gone-1-r1"); !errors.Is(err, client.ErrNoSpec) {
		t.Fatalf("retry purged task with input: %v", err)
	}
	if dead, err := e.c.List(ctx, client.ListOptions{Dead: true}); err != nil || !slices.Equal(ids(dead), []string{"gone-1", "bad-1"}) {
		t.Fatalf("dead letters after purge = %v, %v", ids(dead), err)
	}
	// The index still says they were dead-lettered; the list checks.
	failedNow, err := e.c.List(ctx, client.ListOptions{State: client.StateFailed})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range failedNow.Tasks {
		if want := s.ID == "gone-1" || s.ID == "bad-1"; s.Dead != want {
			t.Errorf("%s listed with dead %v, want %v", s.ID, s.Dead, want)
		}
	}

	qs, err := e.c.Queues(ctx)
	if err != nil || len(qs) != 1 {
		t.Fatalf("queues = %+v, %v", qs, err)
	}
	natstest.Eventually(t, 10*time.Second, func() bool {
		qs, err = e.c.Queues(ctx)
		return err == nil && qs[0].FinishedLastMinute == 6
	}, "finished in the last minute never reached 6: %+v", qs)
	if q := qs[0]; q.Dead != 2 || q.Failed != 4 || q.FinishedLastHour != 6 || q.InFlight != 1 || q.Running != 1 {
		t.Fatalf("queue = %+v; want 2 dead letters (bad-1, gone-1), 4 failed, 6 finished, 1 in flight and running", q)
	}
	series, err := e.c.Finished(ctx, "", 10, time.Minute)
	if err != nil || len(series) != 10 || series[9] != 6 {
		t.Fatalf("finished series = %v, %v; want 10 steps ending with 6", series, err)
	}
	if err := running.Cancel(ctx, "done"); err != nil {
		t.Fatal(err)
	}
	if r, err := running.Result(ctx); err != nil || r.Status != messages.ResultCancelled {
		t.Fatalf("cancelled = %+v, %v", r, err)
	}
	if p, err := e.c.List(ctx, client.ListOptions{State: client.StateCancelled}); err != nil || !slices.Equal(ids(p), []string{"slow-1"}) {
		t.Fatalf("cancelled list = %v, %v", ids(p), err)
	}
	if p, err := e.c.List(ctx, client.ListOptions{Dead: true, State: client.StateCancelled}); err != nil || !slices.Equal(ids(p), []string{"slow-1"}) {
		t.Fatalf("cancelled dead letters = %v, %v", ids(p), err)
	}
	res, err := e.c.RetryAll(ctx, client.RetryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var retried []string
	for _, r := range res {
		if r.Err == nil {
			retried = append(retried, r.NewID)
		}
	}
	if !slices.Equal(retried, []string{"slow-1-r1"}) {
		t.Fatalf("retry all: %s; want only slow-1 (the others were retried)", fmt.Sprint(res))
	}
}

func TestListQueued(t *testing.T) {
	e := newEnv(t)
	ensureStreams(t, e.js, e.c.Prefix())
	ctx := testCtx(t)
	for i := range 5 {
		if _, err := e.c.SubmitAsync(ctx, task(fmt.Sprintf("q-%d", i), "echo")); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := e.c.List(ctx, client.ListOptions{State: client.StateQueued, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(p); !slices.Equal(got, []string{"q-4", "q-3", "q-2"}) || !p.More {
		t.Fatalf("queued page = %v (more %v)", got, p.More)
	}
	d, err := e.c.Inspect(ctx, "q-1")
	if err != nil || d.State != client.StateQueued || d.Spec == nil || d.Queue != "default" {
		t.Fatalf("inspect queued = %+v, %v", d, err)
	}
	if _, err := e.c.List(ctx, client.ListOptions{State: "bogus"}); !errors.Is(err, client.ErrInvalidOption) {
		t.Fatalf("bogus state: %v", err)
	}
}
