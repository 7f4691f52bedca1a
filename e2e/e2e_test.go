// Package e2e runs the real binaries, cmd/worker and cmd/submit, built
// from this checkout, against the worker's embedded NATS server and the
// local Docker daemon, the way a user runs them. Without Docker the tests
// are skipped, unless JETRUN_REQUIRE_DOCKER=1 makes that a failure.
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/messages"
)

// binaries are built once per test process.
var binaries struct {
	once           sync.Once
	worker, submit string
	err            error
}

// build compiles cmd/worker and cmd/submit into dir.
func build(t *testing.T) (worker, submit string) {
	t.Helper()
	binaries.once.Do(func() {
		dir, err := os.MkdirTemp("", "jetrun-e2e-bin-")
		if err != nil {
			binaries.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+string(filepath.Separator),
			"github.com/jetrun/jetrun/cmd/worker", "github.com/jetrun/jetrun/cmd/submit")
		if out, err := cmd.CombinedOutput(); err != nil {
			binaries.err = fmt.Errorf("go build: %w\n%s", err, out)
			return
		}
		binaries.worker, binaries.submit = filepath.Join(dir, "worker"), filepath.Join(dir, "submit")
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return binaries.worker, binaries.submit
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binaries.worker != "" {
		os.RemoveAll(filepath.Dir(binaries.worker))
	}
	os.Exit(code)
}

// env is a running worker with its embedded server, and the submit binary.
type env struct {
	submit   string
	url      string
	workerID string
	image    string
}

// startWorker starts the worker binary with its embedded NATS server on a
// free loopback port and a temporary data directory, waits until it has
// created its streams, and stops it with SIGTERM when the test ends.
func startWorker(t *testing.T) *env {
	t.Helper()
	return startWorkerAt(t, testproc.FreePort(t), t.TempDir())
}

// startWorkerAt is startWorker on a given port and data directory, with
// extra flags.
func startWorkerAt(t *testing.T, port int, dataDir string, extra ...string) *env {
	t.Helper()
	image := testimage.Ensure(t) // skips without Docker
	workerBin, submitBin := build(t)
	e := &env{submit: submitBin, image: image, workerID: "e2e-" + strings.ToLower(rand.Text()[:10])}
	e.url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	var out testproc.Buffer
	cmd := exec.Command(workerBin,
		"--embedded-listen", fmt.Sprintf("127.0.0.1:%d", port),
		"--data-dir", dataDir,
		"--worker-id", e.workerID,
		"--metrics-addr", "",
		"--concurrency", "4",
		"--drain-timeout", "5s",
		"--log-level", "warn",
	)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = workerEnv()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("worker exited with %v; output:\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("worker did not stop within 30s of SIGTERM; output:\n%s", out.String())
		}
		if t.Failed() {
			t.Logf("worker output:\n%s", out.String())
		}
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("worker exited before it was ready: %v\n%s", err, out.String())
		default:
		}
		if streamsReady(e.url) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker not ready within 30s; output:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// workerEnv is the test's environment without JETRUN_* settings that would
// reconfigure the worker.
func workerEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JETRUN_") && !strings.HasPrefix(kv, "NATS_URL=") {
			out = append(out, kv)
		}
	}
	return out
}

// streamsReady reports whether the server at url answers and holds the
// worker's three streams.
func streamsReady(url string) bool {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return false
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		return false
	}
	for _, name := range []string{messages.TasksStream, messages.EventsStream, messages.CancelsStream} {
		if _, err := js.StreamInfo(name); err != nil {
			return false
		}
	}
	return true
}

type result struct {
	code           int
	stdout, stderr string
}

// command returns the submit command for args, talking to the worker's
// server through JETRUN_NATS_URL as a user would.
func (e *env) command(ctx context.Context, stdin string, args ...string) (*exec.Cmd, *testproc.Buffer, *testproc.Buffer) {
	cmd := exec.CommandContext(ctx, e.submit, args...)
	cmd.Env = append(workerEnv(), "JETRUN_NATS_URL="+e.url)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr testproc.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	return cmd, &stdout, &stderr
}

// run runs submit to completion, at most two minutes.
func (e *env) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd, stdout, stderr := e.command(ctx, stdin, args...)
	err := cmd.Run()
	r := result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("submit %q: %v", args, err)
	}
	t.Logf("submit %q: exit %d\nstdout: %q\nstderr: %q", args, r.code, clip(r.stdout), clip(r.stderr))
	return r
}

// clip shortens s for the test log.
func clip(s string) string {
	if len(s) > 400 {
		return fmt.Sprintf("%s... (%d bytes)", s[:400], len(s))
	}
	return s
}

// containers returns the containers, running or not, of task id.
func containers(t *testing.T, id string) []container.Summary {
	t.Helper()
	cli := testimage.Docker(t)
	list, err := cli.ContainerList(t.Context(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", "jetrun.task="+id)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func TestSubmit(t *testing.T) {
	e := startWorker(t)

	t.Run("exit codes pass through", func(t *testing.T) {
		t.Parallel()
		for _, tc := range []struct {
			name       string
			args       []string
			code       int
			stdout     string
			stderrHas  string
			stderrLine string
		}{
			{name: "success", args: []string{"--", "echo", "hello", "from", "docker"}, code: 0, stdout: "hello from docker\n"},
			{name: "stderr and exit 3", args: []string{"--", "echo", "out", ";", "echoerr", "oops", ";", "exit", "3"}, code: 3, stdout: "out\n", stderrHas: "oops\n"},
			{name: "env and workdir", args: []string{"--", "env", "GREETING", ";", "pwd"}, code: 0, stdout: "hi there\n/tmp\n"},
			{name: "timeout is 124", args: []string{"--", "sleep", "1h"}, code: 124, stderrHas: "timed out"},
			{name: "out of memory is 137", args: []string{"--", "alloc", "256"}, code: 137, stderrHas: "out of memory"},
		} {
			args := []string{"run"}
			switch tc.name {
			case "env and workdir":
				args = append(args, "-e", "GREETING=hi there", "-w", "/tmp")
			case "timeout is 124":
				args = append(args, "--timeout", "1s")
			case "out of memory is 137":
				args = append(args, "--memory", "32M")
			}
			args = append(append(args, e.image), tc.args...)
			r := e.run(t, "", args...)
			// The runtime can lose an OOM report (see drivertest's
			// oomAttempts): exit 137 without "out of memory" is tried again.
			for attempt := 2; attempt <= 3 && tc.name == "out of memory is 137" && r.code == 137 && !strings.Contains(r.stderr, tc.stderrHas); attempt++ {
				t.Logf("%s: exit 137 without an OOM report (stderr %q); attempt %d", tc.name, r.stderr, attempt)
				r = e.run(t, "", args...)
			}
			if r.code != tc.code {
				t.Errorf("%s: exit %d, want %d (stderr %q)", tc.name, r.code, tc.code, r.stderr)
			}
			if r.stdout != tc.stdout {
				t.Errorf("%s: stdout %q, want %q", tc.name, r.stdout, tc.stdout)
			}
			if !strings.Contains(r.stderr, tc.stderrHas) {
				t.Errorf("%s: stderr %q, want it to contain %q", tc.name, r.stderr, tc.stderrHas)
			}
		}
	})

	t.Run("stdin reaches the container", func(t *testing.T) {
		t.Parallel()
		in := "first line\nsecond line\n" + strings.Repeat("x", 100_000) + "\n"
		r := e.run(t, in, "run", "-i", e.image, "--", "cat")
		if r.code != 0 || r.stdout != in {
			t.Errorf("exit %d, stdout %d bytes (want %d, the input)", r.code, len(r.stdout), len(in))
		}
	})

	t.Run("SIGINT cancels the container", func(t *testing.T) {
		t.Parallel()
		id := "e2e-sigint-" + strings.ToLower(rand.Text()[:8])
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		defer cancel()
		cmd, stdout, stderr := e.command(ctx, "", "run", "--id", id, e.image, "--", "echo", "started", ";", "ignore-sigterm", ";", "sleep", "1h")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		natstest.Eventually(t, time.Minute, func() bool { return stdout.String() == "started\n" },
			"the task's output never arrived; stderr %q", stderr.String())
		if n := len(containers(t, id)); n != 1 {
			t.Fatalf("%d containers for the running task, want 1", n)
		}
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Fatalf("submit did not exit within 30s of SIGINT; stderr %q", stderr.String())
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Errorf("exit %d after SIGINT, want 130; stderr %q", code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "cancelled") {
			t.Errorf("stderr %q does not say the task was cancelled", stderr.String())
		}
		natstest.Eventually(t, 30*time.Second, func() bool { return len(containers(t, id)) == 0 },
			"the container of cancelled task %s is still there", id)
		st := e.run(t, "", "status", "--json", id)
		if !strings.Contains(st.stdout, `"status": "cancelled"`) {
			t.Errorf("status after SIGINT: %q", st.stdout)
		}
	})

	t.Run("detach then logs and status", func(t *testing.T) {
		t.Parallel()
		id := "e2e-detach-" + strings.ToLower(rand.Text()[:8])
		r := e.run(t, "", "run", "--detach", "--id", id, e.image, "--", "echo", "line 1", ";", "echoerr", "warning", ";", "sleep", "2s", ";", "echo", "line 2", ";", "exit", "7")
		if r.code != 0 || r.stdout != id+"\n" {
			t.Fatalf("detach: exit %d, stdout %q, want the id", r.code, r.stdout)
		}
		dup := e.run(t, "", "run", "--detach", "--id", id, e.image, "--", "echo", "again")
		if dup.code != 0 || !strings.Contains(dup.stderr, "already submitted") {
			t.Errorf("duplicate detach: exit %d, stderr %q", dup.code, dup.stderr)
		}
		logs := e.run(t, "", "logs", "-f", id)
		if logs.code != 0 || logs.stdout != "line 1\nline 2\n" || !strings.Contains(logs.stderr, "warning\n") {
			t.Errorf("logs -f: exit %d, stdout %q, stderr %q", logs.code, logs.stdout, logs.stderr)
		}
		// After the fact: the same output, replayed.
		again := e.run(t, "", "logs", id)
		if again.stdout != "line 1\nline 2\n" {
			t.Errorf("logs: stdout %q", again.stdout)
		}
		st := e.run(t, "", "status", "--json", id)
		var v struct {
			State  string `json:"state"`
			Worker string `json:"worker"`
			Result *struct {
				Status   string `json:"status"`
				ExitCode int    `json:"exit_code"`
				LogBytes int64  `json:"log_bytes"`
			} `json:"result"`
		}
		if err := json.Unmarshal([]byte(st.stdout), &v); err != nil {
			t.Fatalf("status --json: %v in %q", err, st.stdout)
		}
		if v.State != "finished" || v.Worker != e.workerID || v.Result == nil || v.Result.Status != "error" || v.Result.ExitCode != 7 || v.Result.LogBytes != int64(len("line 1\nline 2\nwarning\n")) {
			t.Errorf("status = %s", st.stdout)
		}
	})

	t.Run("errors before publishing", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, "", "run", "--prefix", "nobody", e.image)
		if r.code != 125 || !strings.Contains(r.stderr, "is a worker running?") {
			t.Errorf("wrong prefix: exit %d, stderr %q", r.code, r.stderr)
		}
		r = e.run(t, "", "run", "--cpus", "0.5", "--label", "jetrun.task=x", e.image)
		if r.code != 125 || !strings.Contains(r.stderr, "labels[jetrun.task]") {
			t.Errorf("reserved label: exit %d, stderr %q", r.code, r.stderr)
		}
		r = e.run(t, "", "--nats", "nats://127.0.0.1:1", "run", e.image)
		if r.code != 125 || !strings.Contains(r.stderr, "cannot reach NATS") {
			t.Errorf("no server: exit %d, stderr %q", r.code, r.stderr)
		}
	})
}
