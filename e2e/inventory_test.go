package e2e

// Issue 13's task inventory end to end: submit ls, inspect, queues,
// workers, retry and purge against the real worker (index and dead-letter
// streams, leases, metrics), as a user runs them.

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/internal/testproc"
)

// workerProc is a worker process the test stops (or kills) itself.
type workerProc struct {
	id     string
	cmd    *exec.Cmd
	exited chan error
	out    *testproc.Buffer
	done   bool
}

// launch starts the worker binary with id and args, and stops it with
// SIGTERM when the test ends unless the test stopped it first.
func launch(t *testing.T, id string, args ...string) *workerProc {
	t.Helper()
	workerBin, _ := build(t)
	w := &workerProc{id: id, exited: make(chan error, 1), out: &testproc.Buffer{}}
	w.cmd = exec.Command(workerBin, append([]string{"--worker-id", id, "--metrics-addr", "", "--concurrency", "4",
		"--drain-timeout", "5s", "--log-level", "warn"}, args...)...)
	w.cmd.Env = workerEnv()
	w.cmd.Stdout, w.cmd.Stderr = w.out, w.out
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.exited <- w.cmd.Wait() }()
	t.Cleanup(func() {
		if !w.done {
			w.stop(t, syscall.SIGTERM)
		}
		if t.Failed() {
			t.Logf("worker %s output:\n%s", id, w.out.String())
		}
	})
	return w
}

// stop sends sig and waits for the worker to exit; after SIGTERM it must
// exit cleanly.
func (w *workerProc) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	w.done = true
	_ = w.cmd.Process.Signal(sig)
	select {
	case err := <-w.exited:
		if sig == syscall.SIGTERM && err != nil {
			t.Errorf("worker %s exited with %v after SIGTERM", w.id, err)
		}
	case <-time.After(30 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.exited
		t.Errorf("worker %s did not stop within 30s of %v", w.id, sig)
	}
}

// embedded starts a worker with its embedded server on port and dataDir,
// waits for its streams, and returns it with an env for submit.
func embedded(t *testing.T, port int, dataDir string, extra ...string) (*env, *workerProc) {
	t.Helper()
	image := testimage.Ensure(t)
	_, submitBin := build(t)
	e := &env{submit: submitBin, image: image, workerID: "inv-" + strings.ToLower(rand.Text()[:8]),
		url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
	w := launch(t, e.workerID, append([]string{"--embedded-listen", fmt.Sprintf("127.0.0.1:%d", port), "--data-dir", dataDir}, extra...)...)
	eventually(t, 30*time.Second, func() bool {
		select {
		case err := <-w.exited:
			w.exited <- err
			t.Fatalf("worker exited before it was ready: %v\n%s", err, w.out.String())
		default:
		}
		return streamsReady(e.url)
	}, "worker not ready")
	return e, w
}

// eventually polls cond until it holds or within has passed.
func eventually(t *testing.T, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: "+format, append([]any{within}, args...)...)
		}
		time.Sleep(200 * time.Millisecond) // polling interval, not a wait for an event
	}
}

// quiet runs submit without logging a passing poll.
func (e *env) quiet(t *testing.T, args ...string) result {
	t.Helper()
	cmd, stdout, stderr := e.command(t.Context(), "", args...)
	_ = cmd.Run()
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// jsonOf runs submit args (which print JSON) and decodes its stdout into v.
func jsonOf[T any](t *testing.T, e *env, args ...string) T {
	t.Helper()
	r := e.quiet(t, args...)
	var v T
	if r.code != 0 {
		t.Fatalf("submit %q: exit %d, stderr %q", args, r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("submit %q: %v in %q", args, err, r.stdout)
	}
	return v
}

type lsTask struct {
	ID       string `json:"id"`
	Queue    string `json:"queue"`
	State    string `json:"state"`
	Status   string `json:"status"`
	Worker   string `json:"worker"`
	ExitCode *int   `json:"exit_code"`
	Error    string `json:"error"`
	RetryOf  string `json:"retry_of"`
	Dead     bool   `json:"dead"`
}

type lsPage struct {
	Tasks []lsTask `json:"tasks"`
	Next  string   `json:"next"`
}

// ls returns the ids of submit ls --json with args, and the page.
func ls(t *testing.T, e *env, args ...string) ([]string, lsPage) {
	t.Helper()
	p := jsonOf[lsPage](t, e, append([]string{"ls", "--json"}, args...)...)
	var ids []string
	for _, x := range p.Tasks {
		ids = append(ids, x.ID)
	}
	return ids, p
}

type inspectOut struct {
	lsTask
	Spec *struct {
		ID    string   `json:"id"`
		Image string   `json:"image"`
		Cmd   []string `json:"cmd"`
	} `json:"spec"`
	InputBytes int `json:"input_bytes"`
	Statuses   []struct {
		State  string `json:"state"`
		Worker string `json:"worker"`
	} `json:"statuses"`
	Runs   int `json:"runs"`
	Result *struct {
		Status   string `json:"status"`
		ExitCode int    `json:"exit_code"`
		Worker   string `json:"worker"`
	} `json:"result"`
	RetriedAs string `json:"retried_as"`
}

type workerOut struct {
	ID      string   `json:"id"`
	Queue   string   `json:"queue"`
	Running []string `json:"running"`
}

type queueOut struct {
	Queue          string   `json:"queue"`
	Queued         uint64   `json:"queued"`
	Running        int      `json:"running"`
	Dead           uint64   `json:"dead_letters"`
	Failed         uint64   `json:"failed"`
	FinishedMinute uint64   `json:"finished_last_minute"`
	FinishedHour   uint64   `json:"finished_last_hour"`
	Workers        []string `json:"workers"`
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func uid(prefix string) string { return prefix + "-" + strings.ToLower(rand.Text()[:6]) }

// Succeeded, failed, cancelled, running and queued tasks show in submit
// ls under every filter and page, in inspect, queues and workers.
func TestInventoryShowsEveryState(t *testing.T) {
	t.Parallel()
	e, _ := embedded(t, testproc.FreePort(t), t.TempDir())
	ok, failed, cancelled, running, queued := uid("ok"), uid("failed"), uid("cancelled"), uid("running"), uid("queued")
	const idle = "idle"

	if r := e.run(t, "", "run", "--id", ok, e.image, "--", "echo", "hi"); r.code != 0 {
		t.Fatalf("run ok: exit %d", r.code)
	}
	if r := e.run(t, "", "run", "--id", failed, e.image, "--", "exit", "3"); r.code != 3 {
		t.Fatalf("run failed: exit %d", r.code)
	}
	// A gap in the timeline for --since, not a wait for an event.
	time.Sleep(time.Second)
	mid := time.Now()
	time.Sleep(time.Second)

	for _, id := range []string{cancelled, running} {
		if r := e.run(t, "", "run", "--detach", "--id", id, e.image, "--", "sleep", "1h"); r.code != 0 {
			t.Fatalf("run --detach %s: exit %d", id, r.code)
		}
	}
	if r := e.run(t, "", "run", "--detach", "--wait-for-worker", "--queue", idle, "--id", queued, e.image, "--", "echo", "later"); r.code != 0 {
		t.Fatalf("run --queue %s: exit %d", idle, r.code)
	}
	eventually(t, 30*time.Second, func() bool {
		ids, _ := ls(t, e, "--state", "running")
		return slices.Equal(sorted(ids), sorted([]string{cancelled, running}))
	}, "ls --state running never showed %s and %s", cancelled, running)
	if r := e.run(t, "", "cancel", cancelled); r.code != 0 {
		t.Fatalf("cancel: exit %d", r.code)
	}
	eventually(t, 30*time.Second, func() bool {
		ids, _ := ls(t, e, "--state", "cancelled")
		return slices.Equal(ids, []string{cancelled})
	}, "ls --state cancelled never showed %s", cancelled)
	defer e.run(t, "", "cancel", running)
	// The worker's lease lists what it runs as of its last refresh (5 s).
	eventually(t, 15*time.Second, func() bool {
		ids, _ := ls(t, e, "--state", "running")
		return slices.Equal(ids, []string{running})
	}, "ls --state running still lists %s after its cancel", cancelled)

	all := []string{ok, failed, cancelled, running, queued}
	ids, page := ls(t, e)
	if !slices.Equal(sorted(ids), sorted(all)) || page.Next != "" {
		t.Errorf("ls: %v next %q, want %v", ids, page.Next, all)
	}
	byID := map[string]lsTask{}
	for _, x := range page.Tasks {
		byID[x.ID] = x
	}
	for id, want := range map[string]lsTask{
		ok:        {State: "succeeded", Status: "success", Queue: "default", Worker: e.workerID},
		failed:    {State: "failed", Status: "error", Queue: "default", Worker: e.workerID, Dead: true},
		cancelled: {State: "cancelled", Status: "cancelled", Queue: "default", Worker: e.workerID, Dead: true},
		running:   {State: "running", Queue: "default", Worker: e.workerID},
		queued:    {State: "queued", Queue: idle},
	} {
		g := byID[id]
		if g.State != want.State || g.Status != want.Status || g.Queue != want.Queue || g.Worker != want.Worker || g.Dead != want.Dead {
			t.Errorf("ls shows %s as %+v, want %+v", id, g, want)
		}
	}
	if g := byID[failed]; g.ExitCode == nil || *g.ExitCode != 3 || g.Error != "exit code 3" {
		t.Errorf("ls: failed task %+v, want exit code 3", g)
	}

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--state", "succeeded"}, []string{ok}},
		{[]string{"--state", "failed"}, []string{failed}},
		{[]string{"--state", "cancelled"}, []string{cancelled}},
		{[]string{"--state", "running"}, []string{running}},
		{[]string{"--state", "queued"}, []string{queued}},
		{[]string{"--queue", idle}, []string{queued}},
		{[]string{"--queue", "default"}, []string{ok, failed, cancelled, running}},
		{[]string{"--queue", "default", "--state", "failed"}, []string{failed}},
		{[]string{"--worker", e.workerID}, []string{ok, failed, cancelled, running}},
		{[]string{"--worker", "nobody"}, nil},
		{[]string{"--since", time.Since(mid).Round(time.Millisecond).String()}, []string{cancelled, running, queued}},
		{[]string{"--dead"}, []string{failed, cancelled}},
		{[]string{"--dead", "--state", "failed"}, []string{failed}},
	} {
		if ids, _ := ls(t, e, tc.args...); !slices.Equal(sorted(ids), sorted(tc.want)) {
			t.Errorf("ls %q: %v, want %v", tc.args, ids, tc.want)
		}
	}

	// Pages of 2, newest first, each task once.
	var paged []string
	args := []string{"--limit", "2"}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatalf("ls --limit 2 never ended: %v", paged)
		}
		ids, p := ls(t, e, args...)
		if len(ids) > 2 {
			t.Errorf("ls %q: %d tasks", args, len(ids))
		}
		paged = append(paged, ids...)
		if p.Next == "" {
			break
		}
		args = []string{"--limit", "2", "--before", p.Next}
	}
	if want, _ := ls(t, e); !slices.Equal(paged, want) {
		t.Errorf("ls in pages of 2: %v, want %v", paged, want)
	}
	if r := e.run(t, "", "ls", "--limit", "2"); r.code != 0 || !strings.HasPrefix(r.stdout, "ID ") || !strings.Contains(r.stdout, "STATE") ||
		!strings.Contains(r.stdout, "more: submit ls --limit=2 --before ") {
		t.Errorf("ls --limit 2 table: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := e.run(t, "", "ls"); r.code != 0 || !strings.Contains(r.stdout, failed) || !regexp.MustCompile(queued+`\s+`+idle+`\s+queued`).MatchString(r.stdout) {
		t.Errorf("ls table: exit %d, stdout %q", r.code, r.stdout)
	}

	// inspect
	f := jsonOf[inspectOut](t, e, "inspect", "--json", failed)
	if f.State != "failed" || f.Spec == nil || f.Spec.Image != e.image || !slices.Equal(f.Spec.Cmd, []string{"exit", "3"}) || f.Runs != 1 ||
		f.Result == nil || f.Result.Status != "error" || f.Result.ExitCode != 3 || f.Result.Worker != e.workerID || !f.Dead {
		t.Errorf("inspect %s: %+v", failed, f)
	}
	var states []string
	for _, s := range f.Statuses {
		states = append(states, s.State)
		if s.Worker != e.workerID {
			t.Errorf("inspect %s: status %+v not on %s", failed, s, e.workerID)
		}
	}
	if !slices.Contains(states, "running") {
		t.Errorf("inspect %s: statuses %v, want running among them", failed, states)
	}
	if c := jsonOf[inspectOut](t, e, "inspect", "--json", cancelled); c.State != "cancelled" || c.Result == nil || c.Result.Status != "cancelled" {
		t.Errorf("inspect %s: %+v", cancelled, c)
	}
	if r := jsonOf[inspectOut](t, e, "inspect", "--json", running); r.State != "running" || r.Result != nil || r.Spec == nil || !slices.Equal(r.Spec.Cmd, []string{"sleep", "1h"}) {
		t.Errorf("inspect %s: %+v", running, r)
	}
	if q := jsonOf[inspectOut](t, e, "inspect", "--json", queued); q.State != "queued" || q.Queue != idle || q.Result != nil || q.Spec == nil || q.Runs != 0 {
		t.Errorf("inspect %s: %+v", queued, q)
	}
	if r := e.run(t, "", "inspect", ok); r.code != 0 || !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stdout, "status    success, exit code 0") {
		t.Errorf("inspect table: exit %d, stdout %q", r.code, r.stdout)
	}
	if r := e.run(t, "", "inspect", "no-such-task"); r.code != 1 || !strings.Contains(r.stderr, "not known") {
		t.Errorf("inspect of an unknown id: exit %d, stderr %q", r.code, r.stderr)
	}

	// queues: the leases are written every 5 s, so poll.
	eventually(t, 30*time.Second, func() bool {
		qs := jsonOf[[]queueOut](t, e, "queues", "--json")
		byName := map[string]queueOut{}
		for _, q := range qs {
			byName[q.Queue] = q
		}
		d, i := byName["default"], byName[idle]
		good := d.Queued == 0 && d.Running == 1 && d.Dead == 2 && d.Failed == 1 && d.FinishedMinute == 3 && d.FinishedHour == 3 &&
			slices.Equal(d.Workers, []string{e.workerID}) && i.Queued == 1 && i.Running == 0 && len(i.Workers) == 0 && i.Dead == 0
		if !good {
			t.Logf("queues: %+v", qs)
		}
		return good
	}, "queues never showed default (1 running, 2 dead, 1 failed, 3 finished) and %s (1 queued)", idle)
	if r := e.run(t, "", "queues"); r.code != 0 || !strings.Contains(r.stdout, "QUEUE") || !strings.Contains(r.stdout, idle) {
		t.Errorf("queues table: exit %d, stdout %q", r.code, r.stdout)
	}
	eventually(t, 30*time.Second, func() bool {
		ws := jsonOf[[]workerOut](t, e, "workers", "--json")
		return len(ws) == 1 && ws[0].ID == e.workerID && ws[0].Queue == "default" && slices.Equal(ws[0].Running, []string{running})
	}, "workers never showed %s running only %s", e.workerID, running)
}

// A task the image allow-list refused is retried, once the worker allows
// the image, as ID-r1; inspect links the two.
func TestInventoryRetryAfterTheAllowListIsFixed(t *testing.T) {
	t.Parallel()
	img := testimage.Ensure(t)
	other := "jetrun-e2e-other:" + strings.ToLower(rand.Text()[:6])
	cli := testimage.Docker(t)
	if err := cli.ImageTag(t.Context(), img, other); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = cli.ImageRemove(context.Background(), other, image.RemoveOptions{}) })

	port, dir := testproc.FreePort(t), t.TempDir()
	e, w := embedded(t, port, dir, "--allowed-images", "docker.io/library/"+testimage.Repository+":*")
	id := uid("refused")
	r := e.run(t, "", "run", "--id", id, other, "--", "echo", "fixed")
	if r.code == 0 || !strings.Contains(r.stderr, "not in the allowed images") {
		t.Fatalf("run of %s: exit %d, stderr %q; want the allow-list refusal", other, r.code, r.stderr)
	}
	if ids, _ := ls(t, e, "--dead"); !slices.Equal(ids, []string{id}) {
		t.Errorf("ls --dead: %v, want [%s]", ids, id)
	}
	if ids, _ := ls(t, e, "--state", "failed"); !slices.Equal(ids, []string{id}) {
		t.Errorf("ls --state failed: %v, want [%s]", ids, id)
	}

	// The cause fixed: the worker restarted without the allow-list.
	w.stop(t, syscall.SIGTERM)
	e2, _ := embedded(t, port, dir)
	e2.workerID = e.workerID
	re := jsonOf[struct {
		ID    string `json:"id"`
		NewID string `json:"new_id"`
	}](t, e2, "retry", "--json", id)
	if re.ID != id || re.NewID != id+"-r1" {
		t.Fatalf("retry --json: %+v, want %s-r1", re, id)
	}
	if r := e2.run(t, "", "logs", "-f", re.NewID); r.code != 0 || r.stdout != "fixed\n" {
		t.Errorf("logs -f %s: exit %d, stdout %q", re.NewID, r.code, r.stdout)
	}
	eventually(t, 30*time.Second, func() bool {
		ids, _ := ls(t, e2, "--state", "succeeded")
		return slices.Equal(ids, []string{re.NewID})
	}, "ls --state succeeded never showed %s", re.NewID)
	first := jsonOf[inspectOut](t, e2, "inspect", "--json", id)
	if first.RetriedAs != re.NewID || first.State != "failed" {
		t.Errorf("inspect %s: retried_as %q, state %q; want %s, failed", id, first.RetriedAs, first.State, re.NewID)
	}
	second := jsonOf[inspectOut](t, e2, "inspect", "--json", re.NewID)
	if second.RetryOf != id || second.State != "succeeded" || second.Spec == nil || second.Spec.Image != other {
		t.Errorf("inspect %s: %+v; want retry_of %s, succeeded, image %s", re.NewID, second, id, other)
	}
	if r := e2.run(t, "", "inspect", id); !strings.Contains(r.stdout, "Retried as: "+re.NewID) {
		t.Errorf("inspect %s table: %q", id, r.stdout)
	}
	if r := e2.run(t, "", "inspect", re.NewID); !strings.Contains(r.stdout, "Retry of:   "+id) {
		t.Errorf("inspect %s table: %q", re.NewID, r.stdout)
	}
	if again := e2.run(t, "", "retry", id); again.code == 0 {
		t.Errorf("second retry of %s: exit 0, stdout %q; want it refused", id, again.stdout)
	}
}

// A SIGKILLed worker leaves submit workers within one lease.
func TestInventoryKilledWorkerLeavesWithinALease(t *testing.T) {
	t.Parallel()
	e, _ := embedded(t, testproc.FreePort(t), t.TempDir())
	second := launch(t, "inv-second-"+strings.ToLower(rand.Text()[:6]), "--nats", e.url, "--queue", "other")
	live := func() []string {
		r := e.quiet(t, "workers", "--json")
		var ws []workerOut
		if err := json.Unmarshal([]byte(r.stdout), &ws); r.code != 0 || err != nil {
			t.Logf("workers --json: exit %d, stderr %q", r.code, r.stderr) // polled again
			return nil
		}
		var ids []string
		for _, w := range ws {
			ids = append(ids, w.ID)
		}
		return ids
	}
	eventually(t, 30*time.Second, func() bool {
		return slices.Equal(live(), sorted([]string{e.workerID, second.id}))
	}, "workers never listed %s and %s", e.workerID, second.id)
	killed := time.Now()
	second.stop(t, syscall.SIGKILL)
	const lease = 15 * time.Second
	eventually(t, lease+5*time.Second, func() bool { return !slices.Contains(live(), second.id) },
		"the killed worker %s is still listed", second.id)
	t.Logf("killed worker left submit workers after %v", time.Since(killed).Round(time.Millisecond))
	if ids := live(); !slices.Equal(ids, []string{e.workerID}) {
		t.Errorf("workers after the kill: %v, want [%s]", ids, e.workerID)
	}
}

// A small JETRUN_DEAD drops its oldest dead letters; the metrics count
// them, and not a purge.
func TestInventoryDeadLetterRetention(t *testing.T) {
	t.Parallel()
	metrics := fmt.Sprintf("127.0.0.1:%d", testproc.FreePort(t))
	e, _ := embedded(t, testproc.FreePort(t), t.TempDir(), "--dead-max-bytes", "8K", "--metrics-addr", metrics)
	input := strings.Repeat("x", 1500) // a dead letter of about 2 KiB: four fit
	const n = 8
	var ids []string
	for i := range n {
		id := fmt.Sprintf("dead-%d-%s", i, strings.ToLower(rand.Text()[:4]))
		if r := e.run(t, input, "run", "-i", "--id", id, e.image, "--", "exit", "3"); r.code != 3 {
			t.Fatalf("run %s: exit %d", id, r.code)
		}
		ids = append(ids, id)
	}
	held, _ := ls(t, e, "--dead")
	slices.Reverse(held) // oldest first
	if len(held) == 0 || len(held) >= n || !slices.Equal(held, ids[n-len(held):]) {
		t.Fatalf("ls --dead: %v; want the newest few of %v", held, ids)
	}
	dropped := n - len(held)
	t.Logf("JETRUN_DEAD of 8K kept %d of %d dead letters", len(held), n)
	m := scrape(t, metrics)
	if m["jetrun_dead_letters_dropped_total"] != dropped || m["jetrun_dead_letters"] != len(held) {
		t.Errorf("metrics %v; want %d dropped, %d held", m, dropped, len(held))
	}
	// The dropped tasks are still listed as failed, without a dead letter.
	if f := jsonOf[inspectOut](t, e, "inspect", "--json", ids[0]); f.State != "failed" || f.Dead {
		t.Errorf("inspect of dropped %s: state %s, dead %v", ids[0], f.State, f.Dead)
	}

	if r := e.run(t, "", "purge", held[0]); r.code != 0 || r.stdout != "purged "+held[0]+"\n" {
		t.Fatalf("purge %s: exit %d, stdout %q", held[0], r.code, r.stdout)
	}
	if now, _ := ls(t, e, "--dead"); slices.Contains(now, held[0]) || len(now) != len(held)-1 {
		t.Errorf("ls --dead after purging %s: %v", held[0], now)
	}
	m = scrape(t, metrics)
	if m["jetrun_dead_letters_dropped_total"] != dropped || m["jetrun_dead_letters"] != len(held)-1 {
		t.Errorf("metrics after a purge %v; want still %d dropped, %d held", m, dropped, len(held)-1)
	}
}

// scrape returns the jetrun_dead_letters* samples of the worker's
// /metrics at addr.
func scrape(t *testing.T, addr string) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		name, v, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(name, "jetrun_dead_letters") {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[name] = int(f)
	}
	return out
}
