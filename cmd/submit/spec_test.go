package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/messages"
)

func TestParseSpec(t *testing.T) {
	yamlSpec := `
id: build-1
image: busybox
cmd: [sh, -c, "echo hi"]
env: {A: "1"}
labels: {team: infra}
input: "hello\n"
timeout: 1m30s
memory: 256M
cpus: 0.5
volumes:
  - /data:/in
  - [/out, /out, rw]
  - /cache:/cache:ro
workdir: /in
reply: my.replies.1
queue: gpu
`
	jsonSpec := `{"id":"build-1","image":"busybox","cmd":["sh","-c","echo hi"],"env":{"A":"1"},
"labels":{"team":"infra"},"input":"hello\n","timeout":"1m30s","memory":268435456,"cpus":0.5,
"volumes":["/data:/in",["/out","/out","rw"],"/cache:/cache:ro"],"workdir":"/in","reply":"my.replies.1","queue":"gpu"}`
	want := &messages.Task{
		ID: "build-1", Image: "busybox", Cmd: []string{"sh", "-c", "echo hi"},
		Env: map[string]string{"A": "1"}, Labels: map[string]string{"team": "infra"},
		Input: []byte("hello\n"), TimeoutMS: 90_000, Memory: 256 << 20, CPUs: 500,
		Volumes: [][]string{{"/data", "/in"}, {"/out", "/out", "rw"}, {"/cache", "/cache", "ro"}}, Workdir: "/in", Reply: "my.replies.1",
	}
	for name, src := range map[string]string{"yaml": yamlSpec, "json": jsonSpec} {
		t.Run(name, func(t *testing.T) {
			s, err := parseSpec([]byte(src))
			if err != nil {
				t.Fatal(err)
			}
			if got := s.task(); !reflect.DeepEqual(got, want) {
				t.Errorf("task = %+v\nwant %+v", got, want)
			}
			if s.Queue != "gpu" {
				t.Errorf("queue = %q", s.Queue)
			}
		})
	}
}

func TestParseSpecErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "empty"},
		{"image: busybox\nimgae: x\n", `line 2: unknown key "imgae"; the keys are cmd, cpus, env, id, image,`},
		{"image: busybox\ntimeout: 10\n", `timeout "10"`},
		{"image: busybox\nmemory: lots\n", `"lots" is not a size`},
		{"image: busybox\ncpus: -1\n", "negative"},
		{"image: busybox\nvolumes: [/only-one]\n", "want HOST:CONTAINER"},
		{"image: busybox\nvolumes: [[/a, /b, /c]]\n", "mode \"/c\""},
		{"image: busybox\nvolumes: [[/a, /b, rw, x]]\n", "[HOST, CONTAINER]"},
		{"image: busybox\nvolumes: [\"/a:/b:rx\"]\n", "want ro or rw"},
		{"image: a\n---\nimage: b\n", "more than one document"},
	} {
		_, err := parseSpec([]byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseSpec(%q) = %v, want an error containing %q", tc.src, err, tc.want)
		}
	}
}

func TestParseUnits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"0.5", 500, false}, {"2", 2000, false}, {"0.001", 1, false}, {"0", 0, false},
		{"0.0001", 0, true}, {"-1", 0, true}, {"NaN", 0, true}, {"one", 0, true}, {"2000", 0, true},
	} {
		got, err := parseCPUs(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseCPUs(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"30s", 30_000, false}, {"1h", 3_600_000, false}, {"1500us", 2, false}, {"0", 0, false},
		{"-1s", 0, true}, {"10", 0, true}, {"8760h", 0, true},
	} {
		got, err := parseTimeout(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseTimeout(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		err  bool
	}{
		{"256M", 256 << 20, false}, {"1.5G", 3 << 29, false}, {"512KiB", 512 << 10, false}, {"1048576", 1 << 20, false},
		{"12x", 0, true}, {"-1M", 0, true}, {"2T", 0, true},
	} {
		got, err := parseMemory(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("parseMemory(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		r    messages.Result
		want int
	}{
		{messages.Result{Status: messages.ResultSuccess}, 0},
		{messages.Result{Status: messages.ResultError, ExitCode: 3}, 3},
		{messages.Result{Status: messages.ResultError, ExitCode: -1, Error: "image not found"}, 1},
		{messages.Result{Status: messages.ResultError, ExitCode: 0, Error: "driver failed"}, 1},
		{messages.Result{Status: messages.ResultTimeout, ExitCode: -1}, 124},
		{messages.Result{Status: messages.ResultCancelled, ExitCode: -1}, 130},
		{messages.Result{Status: messages.ResultKilled, ExitCode: 137, OOM: true}, 137},
		{messages.Result{Status: messages.ResultKilled, ExitCode: -1}, 137},
		{messages.Result{Status: messages.ResultError, ExitCode: 300}, 1},
	} {
		if got := exitCode(&tc.r); got != tc.want {
			t.Errorf("exitCode(%+v) = %d, want %d", tc.r, got, tc.want)
		}
	}
}

// build runs run's flag parsing and task building on args.
func build(t *testing.T, stdin string, env map[string]string, args ...string) (*messages.Task, runOptions, error) {
	t.Helper()
	s := ioStreams{stdin: strings.NewReader(stdin), stdout: io.Discard, stderr: io.Discard,
		lookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
	o := runOptions{labels: labelFlag{}, queue: messages.DefaultQueue, env: envFlag{lookup: s.lookupEnv}}
	fs := flag.NewFlagSet("submit run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.specFile, "f", "", "")
	fs.Var(&o.env, "e", "")
	fs.Var(o.labels, "label", "")
	fs.Var(&o.volumes, "v", "")
	fs.Var(funcFlag(func(v string) (err error) { o.memory, err = parseMemory(v); return }), "memory", "")
	fs.Var(funcFlag(func(v string) (err error) { o.cpus, err = parseCPUs(v); return }), "cpus", "")
	fs.BoolVar(&o.stdin, "i", false, "")
	fs.StringVar(&o.inputFile, "input", "", "")
	fs.StringVar(&o.queue, "queue", o.queue, "")
	fs.StringVar(&o.id, "id", "", "")
	if err := fs.Parse(args); err != nil {
		return nil, o, err
	}
	tk, err := s.buildTask(&o, fs, args, setFlags(fs))
	return tk, o, err
}

func TestBuildTask(t *testing.T) {
	dir := t.TempDir()
	specPath := filepath.Join(dir, "task.yaml")
	if err := os.WriteFile(specPath, []byte("id: from-file\nimage: file-image\ncmd: [echo, file]\nenv: {A: file, B: file}\nmemory: 1G\nqueue: q1\nvolumes: [/a:/in]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputPath := filepath.Join(dir, "in.txt")
	if err := os.WriteFile(inputPath, []byte("from a file"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("image and command", func(t *testing.T) {
		tk, _, err := build(t, "", nil, "--cpus", "0.5", "--memory", "64M", "img", "--", "echo", "-n", "hi")
		if err != nil {
			t.Fatal(err)
		}
		if tk.Image != "img" || !reflect.DeepEqual(tk.Cmd, []string{"echo", "-n", "hi"}) || tk.CPUs != 500 || tk.Memory != 64<<20 {
			t.Errorf("task = %+v", tk)
		}
		if !messages.ValidID(tk.ID) {
			t.Errorf("generated id %q is not valid", tk.ID)
		}
	})
	t.Run("command without --", func(t *testing.T) {
		tk, _, err := build(t, "", nil, "img", "echo", "hi")
		if err != nil || tk.Image != "img" || !reflect.DeepEqual(tk.Cmd, []string{"echo", "hi"}) {
			t.Errorf("task = %+v, %v", tk, err)
		}
	})
	t.Run("flags override the file", func(t *testing.T) {
		tk, o, err := build(t, "", map[string]string{"B": "from-env"}, "-f", specPath, "-e", "A=flag", "-e", "B", "-e", "UNSET",
			"--memory", "128M", "-v", "/b:/in", "-v", "/c:/more:rw", "--id", "flagged")
		if err != nil {
			t.Fatal(err)
		}
		want := &messages.Task{
			ID: "flagged", Image: "file-image", Cmd: []string{"echo", "file"},
			Env: map[string]string{"A": "flag", "B": "from-env"}, Memory: 128 << 20,
			Volumes: [][]string{{"/b", "/in"}, {"/c", "/more", "rw"}},
		}
		if !reflect.DeepEqual(tk, want) {
			t.Errorf("task = %+v\nwant %+v", tk, want)
		}
		if o.queue != "q1" {
			t.Errorf("queue = %q, want the file's q1", o.queue)
		}
	})
	t.Run("file with command only", func(t *testing.T) {
		tk, _, err := build(t, "", nil, "-f", specPath, "--", "echo", "replaced")
		if err != nil || tk.Image != "file-image" || !reflect.DeepEqual(tk.Cmd, []string{"echo", "replaced"}) {
			t.Errorf("task = %+v, %v", tk, err)
		}
	})
	t.Run("file with image", func(t *testing.T) {
		tk, o, err := build(t, "", nil, "-f", specPath, "--queue", "q2", "other", "true")
		if err != nil || tk.Image != "other" || !reflect.DeepEqual(tk.Cmd, []string{"true"}) || o.queue != "q2" {
			t.Errorf("task = %+v, queue %q, %v", tk, o.queue, err)
		}
	})
	t.Run("stdin", func(t *testing.T) {
		tk, _, err := build(t, "typed\n", nil, "-i", "img", "cat")
		if err != nil || string(tk.Input) != "typed\n" {
			t.Errorf("input = %q, %v", tk.Input, err)
		}
	})
	t.Run("input file", func(t *testing.T) {
		tk, _, err := build(t, "", nil, "--input", inputPath, "img", "cat")
		if err != nil || string(tk.Input) != "from a file" {
			t.Errorf("input = %q, %v", tk.Input, err)
		}
	})
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"no image", "", []string{"--memory", "1G"}, "no IMAGE"},
		{"both inputs", "", []string{"-i", "--input", inputPath, "img"}, "choose one"},
		{"missing input file", "", []string{"--input", filepath.Join(dir, "nope"), "img"}, "no such file"},
		{"missing spec", "", []string{"-f", filepath.Join(dir, "nope.yaml")}, "no such file"},
		{"bad volume", "", []string{"-v", "nocolon", "img"}, "want HOST:CONTAINER"},
		{"bad volume mode", "", []string{"-v", "/a:/b:rwx", "img"}, "want ro or rw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := build(t, tc.stdin, nil, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestOutputWriterAttempts(t *testing.T) {
	var stdout, stderr bytes.Buffer
	o := &outputWriter{stdout: &stdout, stderr: &stderr, st: &statusLine{w: &stderr}}
	for _, l := range []*messages.Log{
		{ID: "t", Stream: "stdout", Seq: 0, Data: []byte("a1\n"), Attempt: 1},
		{ID: "t", Stream: "stderr", Seq: 1, Data: []byte("e1\n"), Attempt: 1},
		{ID: "t", Stream: "stdout", Seq: 0, Data: []byte("a2\n"), Attempt: 2},
	} {
		if err := o.write(l); err != nil {
			t.Fatal(err)
		}
	}
	if stdout.String() != "a1\na2\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
	if !strings.Contains(stderr.String(), "e1\n") || !strings.Contains(stderr.String(), "attempt 2 started") {
		t.Errorf("stderr = %q", stderr.String())
	}
}

func TestReadSpecBounded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	big := "image: busybox\nlabels:\n" + strings.Repeat("  k: v\n", maxSpecBytes/7+1)
	if err := os.WriteFile(path, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, read := range map[string]func() (*spec, error){
		"file":  func() (*spec, error) { return readSpec(path, nil) },
		"stdin": func() (*spec, error) { return readSpec("-", strings.NewReader(big)) },
	} {
		if _, err := read(); err == nil || !strings.Contains(err.Error(), "larger than 1MiB") {
			t.Errorf("%s: %v; want an error saying the spec is larger than 1MiB", name, err)
		}
	}
}

// A spec that would take minutes to decode (a mapping of 100,000 labels
// under the 1 MiB cap; decoding a mapping is quadratic in its keys) is
// refused by its shape before decoding, as is an alias.
func TestParseSpecRefusesHugeTrees(t *testing.T) {
	var b strings.Builder
	b.WriteString("image: x\nlabels:\n")
	for i := 0; b.Len() < maxSpecBytes-32; i++ {
		fmt.Fprintf(&b, "  k%d: v\n", i)
	}
	if _, err := parseSpec([]byte(b.String())); err == nil || !strings.Contains(err.Error(), "more than 4096 entries") {
		t.Errorf("100k labels: %v; want a refusal naming the bound", err)
	}
	alias := "image: x\nenv: &e {A: '1'}\nlabels: *e\n"
	if _, err := parseSpec([]byte(alias)); err == nil || !strings.Contains(err.Error(), "aliases") {
		t.Errorf("alias: %v; want it refused", err)
	}
	if s, err := parseSpec([]byte("image: x\nlabels: {a: b}\n")); err != nil || s.Labels["a"] != "b" {
		t.Errorf("a small spec: %+v, %v", s, err)
	}
}

// The finish line says the exit code once (issue 12 #8: "exited with
// code 3 after 1.081s: exit code 3").
func TestFinishLineSaysTheCodeOnce(t *testing.T) {
	for _, errText := range []string{"exit code 3", "exit status 3"} {
		var b strings.Builder
		s := &statusLine{w: &b, on: true}
		s.result(&messages.Result{ID: "t", Status: messages.ResultError, ExitCode: 3, Error: errText}, false)
		if got := b.String(); strings.Count(got, "3") != 1 || !strings.Contains(got, "exited with code 3") {
			t.Errorf("error %q: finish line %q", errText, got)
		}
	}
	var b strings.Builder
	(&statusLine{w: &b, on: true}).result(&messages.Result{ID: "t", Status: messages.ResultError, ExitCode: 3, Error: "disk full"}, false)
	if !strings.Contains(b.String(), ": disk full") {
		t.Errorf("a real reason is kept: %q", b.String())
	}
}

// TestBuildTaskLargeInput: stdin larger than a task message carries goes
// to the artifacts bucket: the task names its object instead.
func TestBuildTaskLargeInput(t *testing.T) {
	task, o, err := build(t, strings.Repeat("x", messages.MaxInputBytes+1), nil, "--id", "big", "-i", "img")
	if err != nil {
		t.Fatal(err)
	}
	if task.Input != nil || task.InputObject != "big/in/0-stdin" || o.art.bigInput == nil {
		t.Errorf("input %d bytes, input object %q; want none inline and big/in/0-stdin", len(task.Input), task.InputObject)
	}
	if err := task.Validate(); err != nil {
		t.Error(err)
	}
}
