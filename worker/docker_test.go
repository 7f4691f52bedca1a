package worker

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/messages"
)

// TestDockerEndToEnd runs a real container through the worker and checks
// what a user sees: status events in order, logs, stats and the result.
func TestDockerEndToEnd(t *testing.T) {
	image := testimage.Ensure(t)
	e := newEnv(t)
	drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: "docker-e2e", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	cfg := testConfig("docker-e2e")
	cfg.AckWait = 10 * time.Second
	run := e.startDriver(cfg, drv)
	e.submit(&messages.Task{
		ID: "docker-1", Image: image, Input: []byte("from stdin\n"), Env: map[string]string{"GREETING": "hello"},
		Cmd: []string{"env", "GREETING", ";", "cat", ";", "echoerr", "to stderr", ";", "sleep", "2500ms", ";", "exit", "4"},
	})
	r := e.result("docker-1", 2*time.Minute)
	if r.Status != messages.ResultError || r.ExitCode != 4 || r.Worker != "docker-e2e" {
		t.Fatalf("result = %+v, want error with exit code 4", r)
	}
	if r.Started.IsZero() || len(r.Stats) == 0 {
		t.Errorf("started %v, %d stats: want a start time and samples", r.Started, len(r.Stats))
	}
	var states []string
	var out, errs bytes.Buffer
	stats := 0
	for _, m := range e.events("docker-1") {
		switch {
		case strings.HasSuffix(m.Subject, ".status"):
			s, _ := messages.DecodeStatus(m.Data)
			if len(states) == 0 || states[len(states)-1] != s.State {
				states = append(states, s.State)
			}
		case strings.HasSuffix(m.Subject, ".log"):
			l, _ := messages.DecodeLog(m.Data)
			if l.Stream == messages.StreamStdout {
				out.Write(l.Data)
			} else {
				errs.Write(l.Data)
			}
		case strings.HasSuffix(m.Subject, ".stat"):
			stats++
		}
	}
	if len(states) < 2 || states[0] != messages.StatePreparing || states[len(states)-1] != messages.StateRunning {
		t.Errorf("states = %v, want preparing ... running", states)
	}
	if out.String() != "hello\nfrom stdin\n" || errs.String() != "to stderr\n" {
		t.Errorf("stdout %q, stderr %q", out.String(), errs.String())
	}
	if stats == 0 {
		t.Error("no stat events from a 2.5s container")
	}
	run.stop(t)
	// No container is left behind.
	n, err := drv.RemoveWorkerContainers(t.Context(), "docker-e2e")
	if err != nil || n != 0 {
		t.Errorf("containers left behind: %d (%v)", n, err)
	}
}

// TestDockerStartFailureIsNotRetried performs the attack of a task whose
// volume makes the container unable to start: one delivery, and an error
// result naming the cause.
func TestDockerStartFailureIsNotRetried(t *testing.T) {
	image := testimage.Ensure(t)
	root := t.TempDir()
	allow := driver.AllowList{VolumeRoots: []string{root}}
	e := newEnv(t)
	drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: "docker-startfail", Logger: testLogger(t), Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	cfg := testConfig("docker-startfail")
	cfg.AckWait = 10 * time.Second
	cfg.Policy.Allow = allow
	e.startDriver(cfg, drv)
	for id, target := range map[string]string{"over-proc": "/proc", "over-passwd": "/etc/passwd"} {
		e.submit(&messages.Task{ID: id, Image: image, Cmd: []string{"true"}, Volumes: [][]string{{root, target}}})
	}
	for id, target := range map[string]string{"over-proc": "/proc", "over-passwd": "/etc/passwd"} {
		r := e.result(id, 2*time.Minute)
		if r.Status != messages.ResultError || r.Attempt != 1 || !strings.Contains(r.Error, target) {
			t.Errorf("%s: result %s attempt %d error %q; want error on the first attempt naming %s", id, r.Status, r.Attempt, r.Error, target)
		}
	}
	if n := e.consumerInfo().NumRedelivered; n != 0 {
		t.Errorf("%d redeliveries of tasks that can never start", n)
	}
}

// TestDockerImageIDRefused performs the image-id attack through the
// worker under --allowed-images 'docker.io/library/*': the test image's
// id, short id and sha256:id are refused with a result saying why; its
// name runs.
func TestDockerImageIDRefused(t *testing.T) {
	image := testimage.Ensure(t)
	info, err := testimage.Docker(t).ImageInspect(t.Context(), image)
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(info.ID, "sha256:")
	allow := driver.AllowList{Images: []string{"docker.io/library/*"}}
	e := newEnv(t)
	drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: "docker-imageid", Logger: testLogger(t), Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	cfg := testConfig("docker-imageid")
	cfg.AckWait = 10 * time.Second
	cfg.Policy.Allow = allow
	e.startDriver(cfg, drv)
	refs := map[string]string{"by-id": hex[:12], "by-short-id": hex[:8], "by-sha256": info.ID}
	for id, ref := range refs {
		e.submit(&messages.Task{ID: id, Image: ref, Cmd: []string{"echo", "ran"}})
	}
	e.submit(&messages.Task{ID: "by-name", Image: image, Cmd: []string{"echo", "ran"}})
	for id, ref := range refs {
		r := e.result(id, time.Minute)
		if r.Status != messages.ResultError || !strings.Contains(r.Error, "image id") {
			t.Errorf("%s (%s): result %s %q; want an error refusing the image id", id, ref, r.Status, r.Error)
		}
	}
	if r := e.result("by-name", 2*time.Minute); r.Status != messages.ResultSuccess {
		t.Errorf("allowed name: result %s %q", r.Status, r.Error)
	}
}

// TestDockerVolumeSymlinkAttack performs the attack of issue 15 through
// the worker: task A, with R/out mounted read-write, makes the link
// /out/hostroot -> /; task B mounts R/out/hostroot/<dir outside R>, which
// is lexically under R. B is refused and reads nothing.
func TestDockerVolumeSymlinkAttack(t *testing.T) {
	image := testimage.Ensure(t)
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(out, 0o777); err != nil { // past the umask: tasks run as nobody
		t.Fatal(err)
	}
	allow := driver.AllowList{VolumeRoots: []string{root}}
	e := newEnv(t)
	drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: "docker-symlink", Logger: testLogger(t), Allow: allow})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	cfg := testConfig("docker-symlink")
	cfg.AckWait = 10 * time.Second
	cfg.Policy.Allow = allow
	e.startDriver(cfg, drv)

	e.submit(&messages.Task{ID: "link-maker", Image: image, Cmd: []string{"symlink", "/", "/out/hostroot"},
		Volumes: [][]string{{out, "/out", messages.VolumeReadWrite}}})
	if r := e.result("link-maker", 2*time.Minute); r.Status != messages.ResultSuccess {
		t.Fatalf("task A: %s %q", r.Status, r.Error)
	}
	if target, err := os.Readlink(filepath.Join(out, "hostroot")); err != nil || target != "/" {
		t.Fatalf("task A left no link to / (%q, %v)", target, err)
	}

	for id, host := range map[string]string{
		"reader-link": filepath.Join(out, "hostroot"),
		"reader-path": filepath.Join(out, "hostroot", outside),
	} {
		e.submit(&messages.Task{ID: id, Image: image, Cmd: []string{"readfile", "/data" + outside + "/secret", ";", "readfile", "/data/secret"},
			Volumes: [][]string{{host, "/data"}}})
		r := e.result(id, 2*time.Minute)
		if r.Status != messages.ResultError || !strings.Contains(r.Error, "outside the allowed roots") {
			t.Errorf("task B (%s): result %s %q; want it refused, resolving outside the root", host, r.Status, r.Error)
		}
		for _, m := range e.events(id) {
			if bytes.Contains(m.Data, []byte("host secret")) {
				t.Errorf("task B (%s) read the secret outside the root", host)
			}
		}
	}

	// A volume without a mode is read-only.
	e.submit(&messages.Task{ID: "ro-writer", Image: image, Cmd: []string{"writefile", "/out/x", "y"}, Volumes: [][]string{{out, "/out"}}})
	if r := e.result("ro-writer", 2*time.Minute); r.Status != messages.ResultError {
		t.Errorf("write to a volume without a mode: %s; want an error (read-only)", r.Status)
	}
	if _, err := os.Stat(filepath.Join(out, "x")); err == nil {
		t.Error("a volume without a mode was written")
	}
}
