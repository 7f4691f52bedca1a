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
	bin := filepath.Join(h.tmp, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/worker")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build cmd/worker: %w\n%s", err, out)
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
	// A worker with --nats only checks the streams: provision them first,
	// as an operator does.
	prov := exec.CommandContext(ctx, bin, "--provision", "--nats", env.srv.ClientURL())
	prov.Env = withoutJetrunEnv(os.Environ())
	if out, err := prov.CombinedOutput(); err != nil {
		return 0, 0, 0, fmt.Errorf("worker --provision: %w: %s", err, out)
	}
	id := fmt.Sprintf("bench-memory-%d", rep)

	logFile, err := os.Create(filepath.Join(h.tmp, id+".log"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer logFile.Close()
	cmd := exec.Command(bin, "--nats", env.srv.ClientURL(), "--worker-id", id,
		"--concurrency", strconv.Itoa(n), "--metrics-addr", "", "--log-level", "warn")
	cmd.Env = withoutJetrunEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return 0, 0, 0, fmt.Errorf("start worker: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-exited
		}
		rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if drv, derr := docker.New(driver.Config{}, docker.Options{WorkerID: id}); derr == nil {
			_, _ = drv.RemoveWorkerContainers(rctx, id)
			_ = drv.Close()
		}
	}()
	alive := func() error {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("worker exited (%v); its log is in %s", err, logFile.Name())
		default:
			return nil
		}
	}

	nc, err := env.connect("bench-memory-client")
	if err != nil {
		return 0, 0, 0, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, 0, 0, err
	}
	if err := poll(ctx, time.Minute, func() (bool, error) {
		if err := alive(); err != nil {
			return false, err
		}
		_, err := js.Consumer(ctx, messages.TasksStream, messages.ConsumerName(messages.DefaultQueue))
		return err == nil, nil
	}); err != nil {
		return 0, 0, 0, fmt.Errorf("worker not consuming: %w", err)
	}
	pid := cmd.Process.Pid
	if idle, err = sampleRSS(ctx, pid); err != nil {
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
