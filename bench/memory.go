package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/messages"
)

// rssWindow is how long RSS is sampled, every rssEvery, for one figure.
const (
	rssWindow = 2 * time.Second
	rssEvery  = 100 * time.Millisecond
)

// memory measures the resident set of the real worker binary (cmd/worker,
// built into a scratch directory, as its own process connected to this
// process's NATS server): idle once its consumer is bound, and while it
// runs N sleeping containers.
func (h *harness) memory(ctx context.Context) (*result, error) {
	n := h.cfg.memoryTasks
	r := &result{
		Name: benchMemory, Unit: "MiB",
		JetrunWhat: fmt.Sprintf("VmRSS of the cmd/worker process (Docker driver, concurrency %d, metrics off) from /proc/<pid>/status, the median of samples every %v over %v: idle after its consumer is bound, then with %d containers running `sleep`; VmHWM is the process's peak", n, rssEvery, rssWindow, n),
	}
	bin, err := h.buildBinary(ctx, "./cmd/worker", "worker")
	if err != nil {
		return nil, err
	}
	idle := extra{Key: "idle_rss_mib", Label: "RSS idle", Unit: "MiB"}
	busy := extra{Key: fmt.Sprintf("running%d_rss_mib", n), Label: fmt.Sprintf("RSS with %d running", n), Unit: "MiB"}
	peak := extra{Key: "peak_rss_mib", Label: "peak RSS (VmHWM)", Unit: "MiB"}
	for rep := range h.cfg.repeats {
		i, b, p, err := h.memoryOnce(ctx, bin, rep, n)
		if err != nil {
			return r, fmt.Errorf("repeat %d: %w", rep+1, err)
		}
		h.logf("  repeat %d  idle %.1f MiB, %d running %.1f MiB, peak %.1f MiB", rep+1, i, n, b, p)
		idle.Vals, busy.Vals, peak.Vals = append(idle.Vals, i), append(busy.Vals, b), append(peak.Vals, p)
	}
	r.Extra = []extra{idle, busy, peak}
	return r, nil
}

func (h *harness) memoryOnce(ctx context.Context, bin string, rep, n int) (idle, busy, peak float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	env, err := h.startNATS()
	if err != nil {
		return 0, 0, 0, err
	}
	defer env.close()
	id := fmt.Sprintf("bench-memory-%d", rep)
	wp, err := h.startWorkerProcess(ctx, env, bin, id, "--concurrency", strconv.Itoa(n))
	if err != nil {
		return 0, 0, 0, err
	}
	defer wp.stop()
	alive := wp.alive
	pid := wp.pid()
	if idle, err = sampleRSS(ctx, pid); err != nil {
		return 0, 0, 0, err
	}
	nc, err := env.connect("bench-memory-client")
	if err != nil {
		return 0, 0, 0, err
	}

	c, err := client.New(nc)
	if err != nil {
		return 0, 0, 0, err
	}
	var handles []*client.Handle
	defer func() {
		for _, hd := range handles {
			_ = hd.Close()
		}
	}()
	for i := range n {
		t := &messages.Task{ID: fmt.Sprintf("mem%d-%02d", rep, i), Image: h.image, Cmd: []string{"sleep", "10m"}}
		hd, err := c.Submit(ctx, t)
		if err != nil {
			return 0, 0, 0, err
		}
		handles = append(handles, hd)
	}
	running := func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		list, err := h.docker.ContainerList(ctx, container.ListOptions{Filters: filters.NewArgs(
			filters.Arg("label", docker.LabelWorker+"="+id), filters.Arg("status", "running"))})
		return err == nil && len(list) == n, err
	}
	if err := poll(ctx, 2*time.Minute, running); err != nil {
		return 0, 0, 0, fmt.Errorf("%d containers not running: %w", n, err)
	}
	if busy, err = sampleRSS(ctx, pid); err != nil {
		return 0, 0, 0, err
	}
	if ok, err := running(); !ok || err != nil {
		return 0, 0, 0, fmt.Errorf("containers stopped while sampling: %v", err)
	}
	if peak, err = procStatusMiB(pid, "VmHWM"); err != nil {
		return 0, 0, 0, err
	}

	for _, hd := range handles {
		if err := hd.Cancel(ctx, "benchmark done"); err != nil {
			return 0, 0, 0, err
		}
	}
	for _, hd := range handles {
		res, err := hd.Result(ctx)
		if err != nil {
			return 0, 0, 0, err
		}
		if res.Status != messages.ResultCancelled {
			return 0, 0, 0, fmt.Errorf("task %s: %s, want cancelled", hd.ID(), res.Status)
		}
	}
	return idle, busy, peak, nil
}

// buildBinary builds the command package pkg (e.g. ./cmd/worker) into the
// scratch directory as name, statically, and returns its path.
func (h *harness) buildBinary(ctx context.Context, pkg, name string) (string, error) {
	bin := filepath.Join(h.tmp, name)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", pkg, err, out)
	}
	return bin, nil
}

// workerProcess is the real worker binary running as its own process,
// connected to a natsEnv's server.
type workerProcess struct {
	cmd    *exec.Cmd
	id     string
	log    *os.File
	exited chan error
}

// startWorkerProcess provisions the streams with the worker binary bin
// and args (a worker with --nats only checks them, as in production),
// starts it with worker id id and args, and waits until its consumer is
// bound, at most a minute. stop ends it.
func (h *harness) startWorkerProcess(ctx context.Context, env *natsEnv, bin, id string, args ...string) (*workerProcess, error) {
	url := env.srv.ClientURL()
	prov := exec.CommandContext(ctx, bin, append([]string{"--provision", "--nats", url}, args...)...)
	prov.Env = withoutJetrunEnv(os.Environ())
	if out, err := prov.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("worker --provision: %w: %s", err, out)
	}
	logFile, err := os.Create(filepath.Join(h.tmp, id+".log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"--nats", url, "--worker-id", id, "--metrics-addr", "", "--log-level", "warn"}, args...)...)
	cmd.Env = withoutJetrunEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	p := &workerProcess{cmd: cmd, id: id, log: logFile, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait() }()
	nc, err := env.connect(id + "-watch")
	if err != nil {
		p.stop()
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		p.stop()
		return nil, err
	}
	if err := poll(ctx, time.Minute, func() (bool, error) {
		if err := p.alive(); err != nil {
			return false, err
		}
		_, err := js.Consumer(ctx, messages.TasksStream, messages.ConsumerName(messages.DefaultQueue))
		return err == nil, nil
	}); err != nil {
		p.stop()
		return nil, fmt.Errorf("worker not consuming: %w", err)
	}
	return p, nil
}

func (p *workerProcess) pid() int { return p.cmd.Process.Pid }

// alive returns an error once the worker has exited.
func (p *workerProcess) alive() error {
	select {
	case err := <-p.exited:
		p.exited <- err
		return fmt.Errorf("worker exited (%v); its log is in %s", err, p.log.Name())
	default:
		return nil
	}
}

// stop sends SIGTERM and waits for the worker, killing it after a
// minute, then removes any container it left.
func (p *workerProcess) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	p.exited <- nil // alive reports it stopped
	p.log.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: p.id}); err == nil {
		_, _ = drv.RemoveWorkerContainers(rctx, p.id)
		_ = drv.Close()
	}
}

// sampleRSS returns the median VmRSS of pid over rssWindow, in MiB.
func sampleRSS(ctx context.Context, pid int) (float64, error) {
	var xs []float64
	deadline := time.Now().Add(rssWindow)
	for time.Now().Before(deadline) {
		v, err := procStatusMiB(pid, "VmRSS")
		if err != nil {
			return 0, err
		}
		xs = append(xs, v)
		select {
		case <-ctx.Done():
			return 0, context.Cause(ctx)
		case <-time.After(rssEvery):
		}
	}
	return summarize(xs).Median, nil
}

// procStatusMiB reads a "kB" field of /proc/<pid>/status, in MiB.
func procStatusMiB(pid int, field string) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s %q: %w", field, val, err)
		}
		return kb / 1024, nil
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// withoutJetrunEnv drops JETRUN_* variables, so the worker runs with the
// flags given and nothing else.
func withoutJetrunEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "JETRUN_") {
			out = append(out, kv)
		}
	}
	return out
}
