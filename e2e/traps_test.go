package e2e

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/testproc"
)

// workerExits runs the worker binary with args and returns its exit code
// and output; it fails the test if the worker is still running after
// within (it should have refused to start).
func workerExits(t *testing.T, within time.Duration, args ...string) (int, string) {
	t.Helper()
	workerBin, _ := build(t)
	var out testproc.Buffer
	cmd := exec.Command(workerBin, append([]string{"--metrics-addr", "", "--log-level", "warn"}, args...)...)
	cmd.Env = workerEnv()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), out.String()
		}
		return 0, out.String()
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("worker %q still running after %v; output:\n%s", args, within, out.String())
		return 0, ""
	}
}

// Issue 12 #5 and #6: a second worker on a port or a data directory that
// a running worker holds refuses to start, saying why, at once (it used to
// wait 10 s and print "not ready ... (is the port taken?)", or start a
// second server on the same store).
func TestSecondWorkerOnTakenPortOrDataDir(t *testing.T) {
	port, dir := testproc.FreePort(t), t.TempDir()
	startWorkerAt(t, port, dir)

	code, out := workerExits(t, 30*time.Second, "--embedded-listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", t.TempDir(), "--worker-id", "second-port")
	if code != 1 || !strings.Contains(out, "address already in use") || !strings.Contains(out, "--embedded-listen") {
		t.Errorf("same port: exit %d, output %q; want 1 with the bind error and the flag to change", code, out)
	}
	code, out = workerExits(t, 30*time.Second, "--embedded-listen", "127.0.0.1:0", "--data-dir", dir, "--worker-id", "second-dir")
	if code != 1 || !strings.Contains(out, dir) || !strings.Contains(out, "--data-dir") {
		t.Errorf("same data dir: exit %d, output %q; want 1 naming %s and --data-dir", code, out, dir)
	}
}

// Issue 12 #1: `submit run` of an image no registry serves fails in
// seconds with the reason (it showed "preparing", then attempts 2 to 5
// with no reason, and failed after 5½ minutes).
func TestUnavailableImageFailsFastWithTheReason(t *testing.T) {
	e := startWorkerAt(t, testproc.FreePort(t), t.TempDir(), "--prepare-retry", "2s")
	image := fmt.Sprintf("127.0.0.1:%d/jetrun/nope:1", testproc.FreePort(t)) // nothing listens there
	r := e.run(t, "", "run", "--verbose", image, "--", "true")
	if r.code != 1 || !strings.Contains(r.stderr, image) || !strings.Contains(r.stderr, "retrying in") || !strings.Contains(r.stderr, "still unavailable") {
		t.Errorf("exit %d, stderr %q; want 1, the retry reason while preparing and a failure naming %s", r.code, r.stderr, image)
	}
	if strings.Contains(r.stderr, "(attempt 2)") {
		t.Errorf("the task was delivered again: %q", r.stderr)
	}
}

// Issue 12 #2: `submit run --id nightly-42` after nightly-42 failed printed
// the old failure and exited 1 without running anything; now it says the
// id already has a result, what it was, and how to run the task again.
func TestReusedIDSaysItAlreadyFinished(t *testing.T) {
	e := startWorker(t)
	id := "nightly-" + strings.ToLower(rand.Text()[:6])
	if r := e.run(t, "", "run", "--id", id, e.image, "--", "exit", "3"); r.code != 3 {
		t.Fatalf("first run: exit %d, want 3", r.code)
	}
	r := e.run(t, "", "run", "--id", id, e.image, "--", "echo", "fixed")
	if r.code != 125 || !strings.Contains(r.stderr, id+" already finished") || !strings.Contains(r.stderr, "exit code 3") || !strings.Contains(r.stderr, "--id "+id+"-2") {
		t.Errorf("rerun with the same id: exit %d, stderr %q; want 125, what ran, and how to run it again", r.code, r.stderr)
	}
	if r := e.run(t, "", "run", "--id", id+"-2", e.image, "--", "echo", "fixed"); r.code != 0 || r.stdout != "fixed\n" {
		t.Errorf("rerun with a new id: exit %d, stdout %q", r.code, r.stdout)
	}
}

// Issue 12 #4: a mistyped --queue waited forever in silence; now submit
// refuses at once, naming the queue and the queues that have workers,
// and submits anyway only with --wait-for-worker.
func TestMistypedQueueIsRefusedAtOnce(t *testing.T) {
	e := startWorker(t)
	r := e.run(t, "", "run", "--queue", "defualt", e.image, "--", "echo", "hi")
	if r.code != 125 || !strings.Contains(r.stderr, `"defualt"`) || !strings.Contains(r.stderr, "queues with live workers: default") || !strings.Contains(r.stderr, "--wait-for-worker") {
		t.Errorf("mistyped queue: exit %d, stderr %q; want 125 naming the queue, the queues there are, and the flag", r.code, r.stderr)
	}
	if r := e.run(t, "", "run", "--queue", "defualt", "--wait-for-worker", "--detach", e.image, "--", "echo", "hi"); r.code != 0 || r.stdout == "" {
		t.Errorf("--wait-for-worker: exit %d, stdout %q; want the task stored", r.code, r.stdout)
	}
}

// Issue 12 #7: two workers with one --worker-id on one NATS removed each
// other's containers; the second now refuses to start, naming the first.
func TestSecondWorkerWithTheSameIDRefuses(t *testing.T) {
	e := startWorker(t)
	code, out := workerExits(t, time.Minute, "--nats", e.url, "--worker-id", e.workerID)
	if code != 1 || !strings.Contains(out, "held by the worker on host") || !strings.Contains(out, "--worker-id") {
		t.Errorf("same worker id: exit %d, output %q; want 1 naming the holder and the flag", code, out)
	}
	// The first worker still runs tasks.
	if r := e.run(t, "", "run", e.image, "--", "echo", "still here"); r.code != 0 || r.stdout != "still here\n" {
		t.Errorf("first worker after the refusal: exit %d, stdout %q", r.code, r.stdout)
	}
}

// Issue 15 #12: a NATS URL that does not parse printed its password in
// clear, from submit and from the worker.
func TestUnparsableURLNeverPrintsThePassword(t *testing.T) {
	_, submitBin := build(t)
	const url = "nats://bob:s3cretpw@[::1"
	out, _ := exec.Command(submitBin, "--nats", url, "status", "some-task").CombinedOutput()
	if strings.Contains(string(out), "s3cretpw") || len(out) == 0 {
		t.Errorf("submit printed %q", out)
	}
	code, wout := workerExits(t, 30*time.Second, "--nats", url, "--worker-id", "url-test")
	if code == 0 || strings.Contains(wout, "s3cretpw") {
		t.Errorf("worker: exit %d, output %q", code, wout)
	}
}

// Issue 12 #3: `submit cancel no-such-task` said "cancel sent", exit 0,
// and a later `submit run --id no-such-task` was cancelled before it ran.
// Now the cancel warns that no worker has the task, a task submitted
// later runs, and cancelling a finished task is refused.
func TestCancelOfAMistypedIDWarnsAndPoisonsNothing(t *testing.T) {
	e := startWorker(t)
	id := "typo-" + strings.ToLower(rand.Text()[:6])
	c := e.run(t, "", "cancel", id)
	if c.code != 0 || !strings.Contains(c.stderr, "no worker has picked up task "+id) {
		t.Errorf("cancel of an unknown id: exit %d, stderr %q; want a warning", c.code, c.stderr)
	}
	if r := e.run(t, "", "run", "--id", id, e.image, "--", "echo", "ran"); r.code != 0 || r.stdout != "ran\n" {
		t.Errorf("the id submitted after the cancel: exit %d, stdout %q; want it to run", r.code, r.stdout)
	}
	if c := e.run(t, "", "cancel", id); c.code != 1 || !strings.Contains(c.stderr, "already finished") {
		t.Errorf("cancel of a finished task: exit %d, stderr %q; want 1", c.code, c.stderr)
	}
}

// submit workers lists the live worker with its queue and the task it
// runs (issue 13's worker list, from the id leases).
func TestWorkersListsTheLiveWorkerAndItsTask(t *testing.T) {
	e := startWorker(t)
	id := "long-" + strings.ToLower(rand.Text()[:6])
	if r := e.run(t, "", "run", "--detach", "--id", id, e.image, "--", "sleep", "1h"); r.code != 0 {
		t.Fatalf("run --detach: exit %d", r.code)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.run(t, "", "workers", "--json")
		var ws []struct {
			ID, Queue string
			Running   []string
		}
		if err := json.Unmarshal([]byte(r.stdout), &ws); err != nil {
			t.Fatalf("workers --json: %v in %q", err, r.stdout)
		}
		if len(ws) == 1 && ws[0].ID == e.workerID && ws[0].Queue == "default" && slices.Contains(ws[0].Running, id) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workers never showed %s running %s: %+v", e.workerID, id, ws)
		}
		time.Sleep(500 * time.Millisecond) // polling interval, not a wait for an event
	}
	if r := e.run(t, "", "workers"); r.code != 0 || !strings.Contains(r.stdout, e.workerID) || !strings.Contains(r.stdout, "1/4 "+id) {
		t.Errorf("workers: exit %d, stdout %q", r.code, r.stdout)
	}
	e.run(t, "", "cancel", id)
}

// submit queues shows queued tasks of a queue no worker consumes, and the
// running tasks and workers of one that has them (issue 13's queue view,
// from JETRUN_TASKS and the worker leases).
func TestQueuesShowsQueuedRunningAndWorkers(t *testing.T) {
	e := startWorker(t)
	long := "q-long-" + strings.ToLower(rand.Text()[:6])
	if r := e.run(t, "", "run", "--detach", "--id", long, e.image, "--", "sleep", "1h"); r.code != 0 {
		t.Fatalf("run --detach: exit %d", r.code)
	}
	if r := e.run(t, "", "run", "--detach", "--queue", "nightly", "--wait-for-worker", e.image, "--", "true"); r.code != 0 {
		t.Fatalf("run --queue nightly: exit %d", r.code)
	}
	type queue struct {
		Queue          string
		Queued         uint64
		Running, Slots int
		Workers        []string
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.run(t, "", "queues", "--json")
		var qs []queue
		if err := json.Unmarshal([]byte(r.stdout), &qs); err != nil {
			t.Fatalf("queues --json: %v in %q", err, r.stdout)
		}
		byName := map[string]queue{}
		for _, q := range qs {
			byName[q.Queue] = q
		}
		d, n := byName["default"], byName["nightly"]
		if d.Running == 1 && d.Queued == 0 && d.Slots == 4 && slices.Equal(d.Workers, []string{e.workerID}) && n.Queued == 1 && len(n.Workers) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queues never showed default running 1 on %s and nightly queued 1: %+v", e.workerID, qs)
		}
		time.Sleep(500 * time.Millisecond) // polling interval, not a wait for an event
	}
	e.run(t, "", "cancel", long)
}
