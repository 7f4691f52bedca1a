package testee_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testimage/testee"
)

func run(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	in := &testee.Interpreter{
		Getenv: func(k string) string { return map[string]string{"FOO": "bar"}[k] },
		Getwd:  func() (string, error) { return "/work/dir", nil },
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		IDs:    func() (int, int) { return 1000, 2000 },
	}
	code, err := in.Run(context.Background(), args)
	if err != nil {
		t.Fatalf("Run(%q): %v", args, err)
	}
	return code, out.String(), errb.String()
}

func TestSteps(t *testing.T) {
	tests := []struct {
		name           string
		stdin          string
		args           []string
		code           int
		stdout, stderr string
	}{
		{name: "empty", args: nil},
		{name: "true", args: []string{"true"}},
		{name: "echo", args: []string{"echo", "hello", "world"}, stdout: "hello world\n"},
		{name: "echo nothing", args: []string{"echo"}, stdout: "\n"},
		{name: "echoerr", args: []string{"echoerr", "oops"}, stderr: "oops\n"},
		{name: "cat", stdin: "line1\nline2", args: []string{"cat"}, stdout: "line1\nline2"},
		{name: "env", args: []string{"env", "FOO"}, stdout: "bar\n"},
		{name: "env unset", args: []string{"env", "NOPE"}, stdout: "\n"},
		{name: "pwd", args: []string{"pwd"}, stdout: "/work/dir\n"},
		{name: "sleep", args: []string{"sleep", "1ms"}},
		{name: "exit", args: []string{"exit", "3"}, code: 3},
		{name: "sequence", args: []string{"echo", "a", ";", "echoerr", "b", ";", "exit", "7", ";", "echo", "never"}, code: 7, stdout: "a\n", stderr: "b\n"},
		{name: "double separator", args: []string{"echo", "a", ";", ";", "echo", "b"}, stdout: "a\nb\n"},
		{name: "alloc", args: []string{"alloc", "2", ";", "echo", "ok"}, stdout: "ok\n"},
		{name: "ignore-sigterm", args: []string{"ignore-sigterm"}},
		{name: "id", args: []string{"id"}, stdout: "1000:2000\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.stdin, tt.args...)
			if code != tt.code || stdout != tt.stdout || stderr != tt.stderr {
				t.Errorf("Run(%q) = %d, %q, %q; want %d, %q, %q", tt.args, code, stdout, stderr, tt.code, tt.stdout, tt.stderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"exit"},
		{"exit", "x"},
		{"exit", "256"},
		{"sleep", "soon"},
		{"env"},
		{"alloc", "-1"},
		{"write", "1", "stdout"},
		{"readfile"},
		{"writefile", "/x"},
		{"symlink", "/x"},
	} {
		code, stdout, stderr := run(t, "", args...)
		if code != testee.ExitUsage || stdout != "" || !strings.HasPrefix(stderr, "testee: ") {
			t.Errorf("Run(%q) = %d, %q, %q; want exit %d and a message on stderr", args, code, stdout, stderr, testee.ExitUsage)
		}
	}
}

func TestWritePattern(t *testing.T) {
	for _, stream := range []string{"stdout", "stderr"} {
		args := []string{"write", "3"}
		if stream == "stderr" {
			args = append(args, "stderr")
		}
		_, stdout, stderr := run(t, "", args...)
		got := stdout
		if stream == "stderr" {
			got, stderr = stderr, stdout
		}
		if stderr != "" {
			t.Errorf("%s: other stream got %d bytes", stream, len(stderr))
		}
		if len(got) != 3<<20 {
			t.Fatalf("%s: wrote %d bytes, want %d", stream, len(got), 3<<20)
		}
		for i := range len(got) {
			if got[i] != testee.PatternByte(int64(i)) {
				t.Fatalf("%s: byte %d = %d, want %d", stream, i, got[i], testee.PatternByte(int64(i)))
			}
		}
	}
}

func TestCancelStopsSleep(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	stop := errors.New("stop now")
	done := make(chan struct{})
	var code int
	var err error
	go func() {
		defer close(done)
		code, err = (&testee.Interpreter{}).Run(ctx, []string{"sleep", "1h"})
	}()
	cancel(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("sleep 1h did not stop after cancel")
	}
	if code != -1 || !errors.Is(err, stop) {
		t.Errorf("Run = %d, %v; want -1 and an error wrapping the cause", code, err)
	}
}

func TestAllocHook(t *testing.T) {
	oom := errors.New("oom")
	var asked int
	in := &testee.Interpreter{Alloc: func(_ context.Context, mib int) error {
		asked = mib
		return oom
	}}
	code, err := in.Run(context.Background(), []string{"alloc", "64", ";", "echo", "never"})
	if code != -1 || !errors.Is(err, oom) || asked != 64 {
		t.Errorf("Run = %d, %v (asked %d MiB); want -1, the hook's error, 64 MiB", code, err, asked)
	}
}

func TestRunConvenience(t *testing.T) {
	var out bytes.Buffer
	code := testee.Run(context.Background(), []string{"env", "X", ";", "exit", "4"},
		func(string) string { return "y" }, nil, &out, nil)
	if code != 4 || out.String() != "y\n" {
		t.Errorf("Run = %d, %q; want 4, %q", code, out.String(), "y\n")
	}
}

func TestFileSteps(t *testing.T) {
	dir := t.TempDir()
	file, link := filepath.Join(dir, "f"), filepath.Join(dir, "l")
	code, stdout, stderr := run(t, "", "writefile", file, "secret", ";", "symlink", file, link, ";", "readfile", link)
	if code != 0 || stdout != "secret" || stderr != "" {
		t.Errorf("write, link, read = %d, %q, %q; want 0, \"secret\"", code, stdout, stderr)
	}
	if target, err := os.Readlink(link); err != nil || target != file {
		t.Errorf("link points to %q (%v), want %q", target, err, file)
	}
	code, _, stderr = run(t, "", "readfile", filepath.Join(dir, "missing"))
	if code != testee.ExitIO || !strings.Contains(stderr, "readfile") {
		t.Errorf("readfile of a missing file = %d, %q; want %d and a message", code, stderr, testee.ExitIO)
	}
}
