package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
	"github.com/jetrun/jetrun/worker/workertest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

// These tests run submit in-process against a real JetStream server and a
// real worker on the fake driver, which interprets the testee steps (echo,
// cat, exit, sleep, ...). The e2e package runs the built binaries on Docker.

type result struct {
	code           int
	stdout, stderr string
}

// submitIn runs submit with args against srv, stdin as its stdin.
func submitIn(ctx context.Context, t *testing.T, srv *server.Server, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr testproc.Buffer
	s := ioStreams{stdin: strings.NewReader(stdin), stdout: &stdout, stderr: &stderr,
		lookupEnv: func(string) (string, bool) { return "", false }}
	code := exitStatus(s.run(ctx, append([]string{"--nats", srv.ClientURL()}, args...)), s.stderr)
	r := result{code, stdout.String(), stderr.String()}
	t.Logf("submit %q: exit %d\nstdout: %q\nstderr: %q", args, r.code, r.stdout, r.stderr)
	return r
}

// startWorker runs a worker on the fake driver against srv until the test
// ends.
func startWorker(t *testing.T, srv *server.Server) *fake.Driver {
	t.Helper()
	nc := natstest.Connect(t, srv)
	drv := fake.New(fake.Options{})
	w, err := worker.New(nc, drv, worker.Config{
		WorkerID: "w1", Concurrency: 4, PullWait: 200 * time.Millisecond, DrainTimeout: 5 * time.Second,
	}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if err != nil {
		t.Fatal(err)
	}
	workertest.Run(t, w)
	return drv
}

func TestRunAgainstWorker(t *testing.T) {
	srv := natstest.Start(t)
	startWorker(t, srv)
	ctx := t.Context()

	t.Run("success with output on both streams", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "--verbose", "img", "--", "echo", "out", ";", "echoerr", "err")
		if r.code != 0 || r.stdout != "out\n" || !strings.Contains(r.stderr, "err\n") {
			t.Errorf("got %+v", r)
		}
		if !strings.Contains(r.stderr, "running on worker w1") || !strings.Contains(r.stderr, "succeeded") {
			t.Errorf("--verbose status missing from stderr: %q", r.stderr)
		}
	})
	t.Run("quiet when stderr is not a terminal", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "img", "--", "echo", "out")
		if r.code != 0 || r.stdout != "out\n" || r.stderr != "" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("exit code passes through", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "img", "--", "echo", "before", ";", "exit", "3")
		if r.code != 3 || r.stdout != "before\n" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("stdin reaches the task", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "line one\nline two\n", "run", "-i", "img", "--", "cat")
		if r.code != 0 || r.stdout != "line one\nline two\n" {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("timeout is 124", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "--timeout", "300ms", "img", "--", "sleep", "1h")
		if r.code != 124 || !strings.Contains(r.stderr, "timed out") {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("out of memory is 137", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "--memory", "16M", "img", "--", "alloc", "64")
		if r.code != 137 || !strings.Contains(r.stderr, "out of memory") {
			t.Errorf("got %+v", r)
		}
	})
	t.Run("interrupt cancels and is 130", func(t *testing.T) {
		ictx, interrupt := context.WithCancel(ctx)
		defer interrupt()
		done := make(chan result, 1)
		go func() {
			done <- submitIn(ictx, t, srv, "", "run", "--id", "to-interrupt", "img", "--", "echo", "started", ";", "sleep", "1h")
		}()
		natstest.Eventually(t, 10*time.Second, func() bool {
			r := submitIn(ctx, t, srv, "", "logs", "to-interrupt")
			return r.stdout == "started\n"
		}, "task never started")
		interrupt()
		select {
		case r := <-done:
			if r.code != 130 || r.stdout != "started\n" || !strings.Contains(r.stderr, "cancelled") {
				t.Errorf("got %+v", r)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("submit did not return after the interrupt")
		}
		st := submitIn(ctx, t, srv, "", "status", "--json", "to-interrupt")
		if !strings.Contains(st.stdout, `"status": "cancelled"`) {
			t.Errorf("status after interrupt: %+v", st)
		}
	})
	t.Run("detach then logs and status", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "--detach", "--id", "detached-1", "img", "--", "echo", "one", ";", "echoerr", "two", ";", "sleep", "1s", ";", "exit", "4")
		if r.code != 0 || r.stdout != "detached-1\n" {
			t.Fatalf("got %+v", r)
		}
		// While it runs, the same id again follows the first submission.
		dup := submitIn(ctx, t, srv, "", "run", "--detach", "--id", "detached-1", "img", "--", "echo", "other")
		if dup.code != 0 || dup.stdout != "detached-1\n" || !strings.Contains(dup.stderr, "already submitted") {
			t.Errorf("duplicate: %+v", dup)
		}
		logs := submitIn(ctx, t, srv, "", "logs", "-f", "detached-1")
		if logs.code != 0 || logs.stdout != "one\n" || !strings.Contains(logs.stderr, "two\n") {
			t.Errorf("logs -f: %+v", logs)
		}
		st := submitIn(ctx, t, srv, "", "status", "--json", "detached-1")
		var v statusView
		if err := json.Unmarshal([]byte(st.stdout), &v); err != nil {
			t.Fatalf("status --json: %v in %q", err, st.stdout)
		}
		if v.State != "finished" || v.Result == nil || v.Result.Status != messages.ResultError || v.Result.ExitCode != 4 {
			t.Errorf("status = %+v, result %+v", v, v.Result)
		}
		// Flags after the id, as with the Docker CLI (issue 12 #8).
		if after := submitIn(ctx, t, srv, "", "status", "detached-1", "--json"); after.code != 0 || after.stdout != st.stdout {
			t.Errorf("status ID --json: %+v; want the same as status --json ID", after)
		}
		// Once it has finished, the same id is refused, saying what ran
		// and how to run it again (issue 12 #2).
		rerun := submitIn(ctx, t, srv, "", "run", "--id", "detached-1", "img", "--", "echo", "new")
		if rerun.code != exitNotRun || !strings.Contains(rerun.stderr, "already finished") || !strings.Contains(rerun.stderr, "exit code 4") || !strings.Contains(rerun.stderr, "new id") {
			t.Errorf("run --id of a finished task: %+v; want it refused with what ran and how to rerun", rerun)
		}
		human := submitIn(ctx, t, srv, "", "status", "detached-1")
		if human.code != 0 || !strings.Contains(human.stdout, "exit code:") || !strings.Contains(human.stdout, "4") {
			t.Errorf("status: %+v", human)
		}
		again := submitIn(ctx, t, srv, "", "logs", "detached-1")
		if again.stdout != "one\n" {
			t.Errorf("logs replay: %+v", again)
		}
	})
	t.Run("cancel before a worker runs it", func(t *testing.T) {
		// The queue has no worker: the cancel is stored and applies later.
		r := submitIn(ctx, t, srv, "", "run", "--detach", "--queue", "idle", "--id", "never-run", "img", "--", "echo", "no")
		if r.code != 0 {
			t.Fatalf("got %+v", r)
		}
		c := submitIn(ctx, t, srv, "", "cancel", "--reason", "changed my mind", "never-run")
		if c.code != 0 || !strings.Contains(c.stdout, "cancel sent") {
			t.Errorf("cancel: %+v", c)
		}
	})
	t.Run("unknown id", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "status", "no-such-task")
		if r.code != 1 || !strings.Contains(r.stderr, "nothing stored for task no-such-task") {
			t.Errorf("got %+v", r)
		}
		r = submitIn(ctx, t, srv, "", "logs", "no-such-task")
		if r.code != 1 || !strings.Contains(r.stderr, "nothing stored") {
			t.Errorf("logs: %+v", r)
		}
	})
	t.Run("custom reply prefix", func(t *testing.T) {
		r := submitIn(ctx, t, srv, "", "run", "--reply", "mine.replies.x", "img", "--", "echo", "via", "reply", ";", "exit", "5")
		if r.code != 5 || r.stdout != "via reply\n" {
			t.Errorf("got %+v", r)
		}
	})
}

func TestRunErrorsBeforePublishing(t *testing.T) {
	srv := natstest.Start(t) // no worker: no streams
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no task stream", []string{"run", "img"}, exitNotRun, "is a worker running?"},
		{"invalid label", []string{"run", "--label", "jetrun.task=x", "img"}, exitNotRun, `labels[jetrun.task]`},
		{"invalid id", []string{"run", "--id", "a.b", "img"}, exitNotRun, "invalid task: id"},
		{"invalid queue", []string{"run", "--queue", "a b", "img"}, exitNotRun, "--queue"},
		{"reply under tasks", []string{"run", "--reply", "jetrun.tasks.default", "img"}, exitNotRun, "reply"},
		{"bad flag", []string{"run", "--memory", "lots", "img"}, exitUsage, "not a size"},
		{"unknown command", []string{"launch"}, exitUsage, "unknown command"},
		{"status without id", []string{"status"}, exitUsage, "exactly one task ID"},
		{"status without event stream", []string{"status", "x"}, exitError, "is a worker running?"},
		{"ls with an unknown state", []string{"ls", "--state", "lost"}, exitUsage, "not one of queued, running"},
		{"ls with a bad cursor", []string{"ls", "--before", "yesterday"}, exitUsage, "not a cursor"},
		{"ls with too large a page", []string{"ls", "--limit", "5000"}, exitUsage, "--limit 5000"},
		{"inspect without id", []string{"inspect"}, exitUsage, "exactly one task ID"},
		{"inspect of an unknown task", []string{"inspect", "nobody"}, exitError, "is not known"},
		{"retry of an id and all", []string{"retry", "--all", "x"}, exitUsage, "not both"},
		{"retry filters without all", []string{"retry", "--queue", "q", "x"}, exitUsage, "go with --all"},
		{"purge without id", []string{"purge"}, exitUsage, "exactly one task ID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := submitIn(ctx, t, srv, "", tc.args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", r.code, r.stderr, tc.code, tc.want)
			}
		})
	}
}

func TestNoServer(t *testing.T) {
	var stderr testproc.Buffer
	s := ioStreams{stdin: strings.NewReader(""), stdout: &testproc.Buffer{}, stderr: &stderr,
		lookupEnv: func(k string) (string, bool) {
			if k == envNATSURL {
				return "nats://127.0.0.1:1", true
			}
			return "", false
		}}
	code := exitStatus(s.run(t.Context(), []string{"run", "img"}), s.stderr)
	if code != exitNotRun || !strings.Contains(stderr.String(), "cannot reach NATS at nats://127.0.0.1:1") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"run", "--help"}, {"help", "logs"}, {"status", "-h"}, {"cancel", "--help"}} {
		var stdout, stderr testproc.Buffer
		s := ioStreams{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, lookupEnv: os.LookupEnv}
		if code := exitStatus(s.run(t.Context(), args), s.stderr); code != 0 || !strings.Contains(stdout.String(), "Usage: submit") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q", args, code, stdout.String(), stderr.String())
		}
	}
}

// `submit run -i` with the 1 MiB the docs once promised: refused before
// publishing, saying how much input fits, instead of NATS's "maximum
// payload exceeded".
// TestRunLargeInputThroughArtifacts: 1 MiB of stdin, more than a task
// message carries, goes through the artifacts bucket and reaches the task
// whole.
func TestRunLargeInputThroughArtifacts(t *testing.T) {
	srv := natstest.Start(t)
	startWorker(t, srv)
	in := strings.Repeat("x", messages.MaxInputBytes)
	r := submitIn(t.Context(), t, srv, in, "run", "-i", "jetrun-testee", "--", "cat")
	if r.code != 0 || r.stdout != in {
		t.Errorf("exit %d, %d bytes of stdout, stderr %q; want 0 and the input echoed", r.code, len(r.stdout), r.stderr)
	}
}
