// Package drivertest is the conformance suite of the driver contract: any
// driver.Driver that passes Run behaves as jetrun's worker expects. Tasks
// speak the testee step language (package internal/testimage/testee), which
// the test image runs for real and a fake driver interprets in-process.
//
// A driver under test must be configured so that no allowed volume root
// covers /etc (the default).
package drivertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/testimage/testee"
)

// CancelWithin is how soon Run must return after its context is cancelled,
// even for a task that ignores SIGTERM.
const CancelWithin = 2 * time.Second

// runLimit bounds every Run of the suite, so a broken driver fails instead
// of hanging the test binary.
const runLimit = 2 * time.Minute

// Harness is what the suite needs to know about a driver.
type Harness struct {
	// Driver is the driver under test.
	Driver driver.Driver
	// Image is an image whose entrypoint is the testee (a fake ignores it).
	Image string
	// MissingImage is an image the driver cannot find anywhere: Prepare
	// must fail with a permanent error. Empty skips that test.
	MissingImage string
	// Labels returns the labels of the container behind a prepared cookie;
	// nil skips the label test.
	Labels func(t *testing.T, c driver.Cookie) map[string]string
	// Containers counts the containers that exist for a task id; nil skips
	// the checks that nothing is left behind.
	Containers func(t *testing.T, taskID string) int
}

// Run runs the conformance suite against h as parallel subtests.
func Run(t *testing.T, h Harness) {
	s := &suite{h: h}
	tests := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"Success", s.testSuccess},
		{"DefaultCommand", s.testDefaultCommand},
		{"StreamsKeepOrder", s.testStreams},
		{"ExitCodes", s.testExitCodes},
		{"StdinToStdout", s.testStdin},
		{"EmptyStdin", s.testEmptyStdin},
		{"NoInput", s.testNoInput},
		{"Env", s.testEnv},
		{"WorkDir", s.testWorkDir},
		{"Labels", s.testLabels},
		{"Timeout", s.testTimeout},
		{"Cancel", func(t *testing.T) { s.testCancel(t, false) }},
		{"CancelIgnoringSIGTERM", func(t *testing.T) { s.testCancel(t, true) }},
		{"CancelBeforeRun", s.testCancelBeforeRun},
		{"OutOfMemory", s.testOOM},
		{"LargeOutput", s.testLargeOutput},
		{"CloseTwice", s.testCloseTwice},
		{"Files", s.testFiles},
		{"FilesRefused", s.testFilesRefused},
		{"CloseWithoutRun", s.testCloseWithoutRun},
		{"FailedPrepareMissingImage", s.testMissingImage},
		{"FailedPrepareVolumeNotAllowed", s.testVolumeNotAllowed},
		{"FailedPrepareNoMemoryLimit", func(t *testing.T) { s.testNoLimit(t, func(tk *Task) { tk.MemoryLimit = 0 }) }},
		{"FailedPrepareNoCPULimit", func(t *testing.T) { s.testNoLimit(t, func(tk *Task) { tk.MilliCPUs = 0 }) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t)
		})
	}
}

type suite struct{ h Harness }

func (s *suite) task(args ...string) *Task { return NewTask(s.h.Image, args...) }

// prepare prepares task and closes the cookie when the test ends.
func (s *suite) prepare(t *testing.T, task *Task) driver.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	c, err := s.h.Driver.Prepare(ctx, task)
	if err != nil {
		t.Fatalf("Prepare(%q): %v", task.Args, err)
	}
	if c == nil {
		t.Fatalf("Prepare(%q) returned a nil cookie and no error", task.Args)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// run prepares and runs task to its end and checks the result is sound.
func (s *suite) run(t *testing.T, task *Task) driver.RunResult {
	t.Helper()
	c := s.prepare(t, task)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatalf("Run(%q): infrastructure error: %v", task.Args, err)
	}
	if res == nil {
		t.Fatalf("Run(%q): nil result and nil error", task.Args)
	}
	if !res.Status().Final() {
		t.Fatalf("Run(%q): status %q is not final", task.Args, res.Status())
	}
	return res
}

func expect(t *testing.T, res driver.RunResult, status driver.Status, code int) {
	t.Helper()
	if res.Status() != status || res.ExitCode() != code {
		t.Errorf("result: status %q exit code %d (%v); want %q and %d", res.Status(), res.ExitCode(), res.Unwrap(), status, code)
	}
	if status == driver.StatusSuccess && (res.Error() != "" || res.Unwrap() != nil) {
		t.Errorf("successful result has an error: %q", res.Error())
	}
	if status != driver.StatusSuccess && (res.Error() == "" || res.Unwrap() == nil) {
		t.Errorf("result %q has no error explaining it", status)
	}
}

func expectOutput(t *testing.T, task *Task, stdout, stderr string) {
	t.Helper()
	if got := string(task.Stdout()); got != stdout {
		t.Errorf("stdout = %q, want %q", got, stdout)
	}
	if got := string(task.Stderr()); got != stderr {
		t.Errorf("stderr = %q, want %q", got, stderr)
	}
}

func (s *suite) expectNoContainer(t *testing.T, taskID string) {
	t.Helper()
	if s.h.Containers == nil {
		return
	}
	if n := s.h.Containers(t, taskID); n != 0 {
		t.Errorf("%d container(s) left for task %s", n, taskID)
	}
}

func (s *suite) testSuccess(t *testing.T) {
	task := s.task("echo", "hello", "world")
	res := s.run(t, task)
	expect(t, res, driver.StatusSuccess, 0)
	expectOutput(t, task, "hello world\n", "")
	if st, ok := res.(driver.Starter); ok && st.StartedAt().IsZero() {
		t.Error("StartedAt is zero for a task that ran")
	}
}

func (s *suite) testDefaultCommand(t *testing.T) {
	task := s.task()
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "", "")
}

func (s *suite) testStreams(t *testing.T) {
	task := s.task("echo", "a", ";", "echoerr", "b", ";", "echo", "c", ";", "echoerr", "d")
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "a\nc\n", "b\nd\n")
}

func (s *suite) testExitCodes(t *testing.T) {
	// 137 is what a SIGKILL gives: without an OOM kill it is a plain error.
	for _, code := range []int{1, 3, 137, 255} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			t.Parallel()
			task := s.task("echo", "before", ";", "exit", fmt.Sprint(code), ";", "echo", "after")
			res := s.run(t, task)
			expect(t, res, driver.StatusError, code)
			if errors.Is(res, driver.ErrOutOfMemory) {
				t.Errorf("exit %d reported as out of memory", code)
			}
			expectOutput(t, task, "before\n", "")
		})
	}
}

func (s *suite) testStdin(t *testing.T) {
	input := make([]byte, 256<<10)
	for i := range input {
		input[i] = byte(i*7 + i/1000)
	}
	task := s.task("cat", ";", "echoerr", "done")
	task.Stdin = input
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	if got := task.Stdout(); !bytes.Equal(got, input) {
		t.Errorf("stdout: %d bytes, want the %d input bytes back unchanged", len(got), len(input))
	}
	expectOutput(t, task, string(input), "done\n")
}

func (s *suite) testEmptyStdin(t *testing.T) {
	task := s.task("cat", ";", "echo", "eof")
	task.Stdin = []byte{}
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "eof\n", "")
}

func (s *suite) testNoInput(t *testing.T) {
	task := s.task("cat", ";", "echo", "eof")
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "eof\n", "")
}

func (s *suite) testEnv(t *testing.T) {
	task := s.task("env", "FOO", ";", "env", "SPACED", ";", "env", "UNSET")
	task.Env = map[string]string{"FOO": "bar", "SPACED": "a b=c;d"}
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "bar\na b=c;d\n\n", "")
}

func (s *suite) testWorkDir(t *testing.T) {
	task := s.task("pwd")
	task.Dir = "/jetrun/work"
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	expectOutput(t, task, "/jetrun/work\n", "")
}

func (s *suite) testLabels(t *testing.T) {
	if s.h.Labels == nil {
		t.Skip("harness has no Labels function")
	}
	task := s.task("true")
	task.LabelSet = map[string]string{"com.example.team": "search", "purpose": "drivertest"}
	c := s.prepare(t, task)
	got := s.h.Labels(t, c)
	for k, v := range task.LabelSet {
		if got[k] != v {
			t.Errorf("label %q = %q, want %q (labels: %v)", k, got[k], v, got)
		}
	}
	if got["jetrun.task"] != task.ID {
		t.Errorf("label jetrun.task = %q, want the task id %q", got["jetrun.task"], task.ID)
	}
}

func (s *suite) testTimeout(t *testing.T) {
	task := s.task("echo", "started", ";", "sleep", "1h")
	task.TimeoutIn = time.Second
	res := s.run(t, task)
	expect(t, res, driver.StatusTimeout, -1)
	expectOutput(t, task, "started\n", "")
}

func (s *suite) testCancel(t *testing.T, ignoreSIGTERM bool) {
	args := []string{"echo", "started", ";", "sleep", "1h"}
	if ignoreSIGTERM {
		args = append([]string{"ignore-sigterm", ";"}, args...)
	}
	task := s.task(args...)
	c := s.prepare(t, task)
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	type outcome struct {
		res driver.RunResult
		err error
		at  time.Time
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := c.Run(ctx)
		done <- outcome{res, err, time.Now()}
	}()
	waitFor(t, 30*time.Second, func() bool { return bytes.Contains(task.Stdout(), []byte("started")) },
		"the task to start")
	cancelled := time.Now()
	cancel(errors.New("cancelled by the test"))
	var o outcome
	select {
	case o = <-done:
	case <-time.After(runLimit):
		t.Fatal("Run did not return after its context was cancelled")
	}
	if o.err != nil {
		t.Fatalf("Run: infrastructure error: %v", o.err)
	}
	took := o.at.Sub(cancelled)
	t.Logf("Run returned %s after the cancel", took.Round(time.Millisecond))
	if took > CancelWithin {
		t.Errorf("Run returned %s after the cancel, want within %s", took.Round(time.Millisecond), CancelWithin)
	}
	expect(t, o.res, driver.StatusCancelled, -1)
	expectOutput(t, task, "started\n", "")
	if err := c.Close(); err != nil {
		t.Errorf("Close after a cancelled Run: %v", err)
	}
	s.expectNoContainer(t, task.ID)
}

func (s *suite) testCancelBeforeRun(t *testing.T) {
	task := s.task("echo", "never")
	c := s.prepare(t, task)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	expect(t, res, driver.StatusCancelled, -1)
	expectOutput(t, task, "", "")
}

// oomAttempts is how often testOOM runs its task before it fails. Docker
// 20.10 with containerd 1.6 on cgroup v1 loses the report of about one OOM
// kill in 30 (no "oom" event, State.OOMKilled false: the task looks like a
// plain SIGKILL, exit 137). A driver must not guess OOM from that exit code,
// so the suite tries again, and fails only when the kill is never reported.
const oomAttempts = 3

func (s *suite) testOOM(t *testing.T) {
	var task *Task
	var res driver.RunResult
	for attempt := 1; attempt <= oomAttempts; attempt++ {
		task = s.task("echo", "allocating", ";", "alloc", "64", ";", "echo", "survived")
		task.MemoryLimit = 16 << 20
		res = s.run(t, task)
		if res.Status() != driver.StatusError || res.ExitCode() != 137 {
			break
		}
		t.Logf("attempt %d: exit 137 without an OOM report from the runtime; trying again", attempt)
	}
	if res.Status() != driver.StatusKilled || !errors.Is(res, driver.ErrOutOfMemory) {
		t.Fatalf("result: status %q error %v; want %q and ErrOutOfMemory", res.Status(), res.Unwrap(), driver.StatusKilled)
	}
	if !driver.IsUserVisible(res.Unwrap()) {
		t.Error("out-of-memory error is not marked user visible")
	}
	if out := string(task.Stdout()); strings.Contains(out, "survived") {
		t.Errorf("task ran on after the allocation: stdout %q", out)
	}
}

func (s *suite) testLargeOutput(t *testing.T) {
	const outMiB, errMiB = 50, 5
	task := s.task("write", fmt.Sprint(outMiB), ";", "write", fmt.Sprint(errMiB), "stderr", ";", "echo", "end")
	expect(t, s.run(t, task), driver.StatusSuccess, 0)
	checkPattern(t, "stdout", task.Stdout(), outMiB<<20, "end\n")
	checkPattern(t, "stderr", task.Stderr(), errMiB<<20, "")
}

// checkPattern checks that got is n bytes of the testee's write pattern
// followed by tail.
func checkPattern(t *testing.T, stream string, got []byte, n int, tail string) {
	t.Helper()
	if len(got) != n+len(tail) {
		t.Errorf("%s: %d bytes, want %d", stream, len(got), n+len(tail))
		return
	}
	for i := range n {
		if got[i] != testee.PatternByte(int64(i)) {
			t.Errorf("%s: byte %d = %d, want %d: output lost, reordered or corrupted", stream, i, got[i], testee.PatternByte(int64(i)))
			return
		}
	}
	if string(got[n:]) != tail {
		t.Errorf("%s: ends with %q, want %q", stream, got[n:], tail)
	}
}

func (s *suite) testCloseTwice(t *testing.T) {
	task := s.task("echo", "x")
	c := s.prepare(t, task)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	if _, err := c.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for i := range 2 {
		if err := c.Close(); err != nil {
			t.Errorf("Close #%d: %v", i+1, err)
		}
	}
	s.expectNoContainer(t, task.ID)
}

func (s *suite) testCloseWithoutRun(t *testing.T) {
	task := s.task("echo", "never")
	c := s.prepare(t, task)
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	s.expectNoContainer(t, task.ID)
	expectOutput(t, task, "", "")
}

func (s *suite) testMissingImage(t *testing.T) {
	if s.h.MissingImage == "" {
		t.Skip("harness has no MissingImage")
	}
	task := NewTask(s.h.MissingImage, "true")
	err := s.expectPrepareFails(t, task)
	if !errors.Is(err, driver.ErrImageUnavailable) {
		t.Errorf("Prepare of a missing image: %v; want it to wrap driver.ErrImageUnavailable", err)
	}
}

func (s *suite) testVolumeNotAllowed(t *testing.T) {
	task := s.task("true")
	task.Mounts = [][2]string{{"/etc", "/host-etc"}}
	s.expectPrepareFails(t, task)
}

// testNoLimit checks that a driver refuses a task without limits rather
// than pick defaults: limits are resolved by the caller.
func (s *suite) testNoLimit(t *testing.T, unset func(*Task)) {
	task := s.task("true")
	unset(task)
	s.expectPrepareFails(t, task)
}

func (s *suite) expectPrepareFails(t *testing.T, task *Task) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	c, err := s.h.Driver.Prepare(ctx, task)
	if err == nil {
		c.Close()
		t.Fatal("Prepare succeeded, want a permanent error")
	}
	if c != nil {
		t.Errorf("Prepare failed (%v) but returned a cookie", err)
	}
	if !errors.Is(err, driver.ErrPermanent) || driver.IsTransient(err) {
		t.Errorf("Prepare error %v: want it permanent (and not transient)", err)
	}
	s.expectNoContainer(t, task.ID)
	return err
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
