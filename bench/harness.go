package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	dockerclient "github.com/docker/docker/client"
	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/natsconn"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/worker"
)

// harness holds what the benchmarks share: the Docker client, the test
// image, a scratch directory and the results so far.
type harness struct {
	cfg        *config
	out        io.Writer // the terminal and the transcript
	transcript bytes.Buffer
	tmp        string
	docker     *dockerclient.Client
	image      string
	dockerV    string
	started    time.Time
	results    []*result
	loads      []loadNote
}

// loadNote is the load average around one benchmark.
type loadNote struct {
	Bench         string
	Before, After string
}

func newHarness(ctx context.Context, cfg *config, out io.Writer) (*harness, error) {
	tmp, err := os.MkdirTemp("", "jetrun-bench-")
	if err != nil {
		return nil, fmt.Errorf("scratch directory: %w", err)
	}
	h := &harness{cfg: cfg, tmp: tmp, started: time.Now()}
	h.out = io.MultiWriter(out, &h.transcript)
	if cfg.selected(benchLatency) || cfg.selected(benchThroughput) || cfg.selected(benchLogs) || cfg.selected(benchMemory) || cfg.selected(benchArtifacts) {
		if err := h.setupDocker(ctx); err != nil {
			h.close()
			return nil, err
		}
	}
	return h, nil
}

// setupDocker connects to the daemon and builds the test image.
func (h *harness) setupDocker(ctx context.Context) error {
	cli, err := testimage.NewClient()
	if err != nil {
		return fmt.Errorf("docker client: %w", err)
	}
	h.docker = cli
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := cli.ServerVersion(pctx)
	if err != nil {
		return fmt.Errorf("docker daemon unavailable (the latency, throughput, logs, memory and artifacts benchmarks need it; -only pipeline runs without): %w", err)
	}
	h.dockerV = fmt.Sprintf("Docker %s (API %s)", v.Version, v.APIVersion)
	bctx, cancel2 := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel2()
	h.image, err = testimage.Build(bctx, cli)
	if err != nil {
		return fmt.Errorf("build the test image: %w", err)
	}
	h.logf("test image %s; %s", h.image, h.dockerV)
	return nil
}

func (h *harness) close() {
	if h.docker != nil {
		_ = h.docker.Close()
	}
	_ = os.RemoveAll(h.tmp)
}

func (h *harness) logf(format string, args ...any) {
	fmt.Fprintf(h.out, format+"\n", args...)
}

// runAll runs the selected benchmarks in order, then reports.
func (h *harness) runAll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.timeout)
	defer cancel()
	h.logf("jetrun benchmarks: %d CPUs (GOMAXPROCS %d), %s, %d repeats, load average %s",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), h.cfg.repeats, loadAvg())
	benches := map[string]func(context.Context) (*result, error){
		benchPipeline:   h.pipeline,
		benchLatency:    h.latency,
		benchThroughput: h.throughput,
		benchLogs:       h.logs,
		benchMemory:     h.memory,
		benchInventory:  h.inventory,
		benchDashboard:  h.dashboard,
		benchArtifacts:  h.artifacts,
	}
	h.warnLoad()
	var errs []error
	for _, name := range allBenchmarks {
		if !h.cfg.selected(name) {
			continue
		}
		before := loadAvg()
		h.logf("\n== %s (load average %s)", name, before)
		r, err := benches[name](ctx)
		h.loads = append(h.loads, loadNote{Bench: name, Before: before, After: loadAvg()})
		h.warnLoad()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			h.logf("%s FAILED: %v", name, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		h.results = append(h.results, r)
	}
	fmt.Fprintln(h.out)
	fmt.Fprint(h.out, h.markdown().table)
	report := h.markdown() // again, with the table in the transcript
	if h.cfg.out != "" && len(h.results) > 0 {
		if err := writeReport(h.cfg.out, report.doc); err != nil {
			errs = append(errs, err)
		} else {
			h.logf("\nwrote %s", h.cfg.out)
		}
	}
	fmt.Fprintln(h.out)
	for _, l := range report.benchLines {
		fmt.Fprintln(h.out, l)
	}
	return errors.Join(errs...)
}

// repeat runs jetrun's and the baseline's measurement repeats times,
// interleaved, alternating which goes first so neither always gets the
// warmer (or the more disturbed) slot. Each function returns one figure.
func (h *harness) repeat(ctx context.Context, r *result, jet, base func(ctx context.Context, rep int) (float64, error)) error {
	for rep := range h.cfg.repeats {
		order := []string{"jetrun", "baseline"}
		if rep%2 == 1 {
			order = []string{"baseline", "jetrun"}
		}
		for _, side := range order {
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			var v float64
			var err error
			if side == "jetrun" {
				err = h.profiled(fmt.Sprintf("%s-jetrun-%d", r.Name, rep+1), func() error {
					v, err = jet(ctx, rep)
					return err
				})
			} else {
				v, err = base(ctx, rep)
			}
			if err != nil {
				return fmt.Errorf("repeat %d, %s: %w", rep+1, side, err)
			}
			if side == "jetrun" {
				r.Jetrun = append(r.Jetrun, v)
			} else {
				r.Baseline = append(r.Baseline, v)
			}
			h.logf("  repeat %d %-8s %10.2f %s", rep+1, side, v, r.Unit)
		}
	}
	h.logf("  ratio %.3f (target %.2f, %s)", r.Ratio(), r.Target, metWord(r.Met()))
	return nil
}

func metWord(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

// profiled runs f under a CPU profile written to the profile directory,
// when one was asked for.
func (h *harness) profiled(name string, f func() error) error {
	if h.cfg.profDir == "" {
		return f()
	}
	if err := os.MkdirAll(h.cfg.profDir, 0o755); err != nil {
		return fmt.Errorf("profile directory: %w", err)
	}
	path := filepath.Join(h.cfg.profDir, name+".pprof")
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer file.Close()
	if err := pprof.StartCPUProfile(file); err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	err = f()
	pprof.StopCPUProfile()
	return err
}

// natsEnv is a fresh in-process nats-server with JetStream, listening on
// loopback, its store in a directory of its own. Every measured run gets
// one, so no run inherits another's streams.
type natsEnv struct {
	srv   *natsconn.Server
	dir   string
	conns []*nats.Conn // closed by close
}

func (h *harness) startNATS() (*natsEnv, error) {
	dir, err := os.MkdirTemp(h.tmp, "nats-")
	if err != nil {
		return nil, fmt.Errorf("nats store: %w", err)
	}
	srv, err := natsconn.Embedded{Name: "jetrun-bench", Listen: "127.0.0.1:0", StoreDir: dir}.Start()
	if err != nil {
		return nil, err
	}
	return &natsEnv{srv: srv, dir: dir}, nil
}

// startNATSConns starts a server and connects once per name.
func (h *harness) startNATSConns(names ...string) (*natsEnv, []*nats.Conn, error) {
	env, err := h.startNATS()
	if err != nil {
		return nil, nil, err
	}
	conns := make([]*nats.Conn, len(names))
	for i, name := range names {
		if conns[i], err = env.connect(name); err != nil {
			env.close()
			return nil, nil, err
		}
	}
	return env, conns, nil
}

// connect dials the server over loopback TCP, as a separate process would;
// close closes the connection.
func (e *natsEnv) connect(name string) (*nats.Conn, error) {
	nc, err := natsconn.Connect(context.Background(), natsconn.Config{URL: e.srv.ClientURL(), Name: name})
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", name, err)
	}
	e.conns = append(e.conns, nc)
	return nc, nil
}

// close closes the connections, stops the server and removes its store.
func (e *natsEnv) close() {
	for _, nc := range e.conns {
		nc.Close()
	}
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	_ = os.RemoveAll(e.dir)
}

// runningWorker is a worker running in this process.
type runningWorker struct {
	w      *worker.Worker
	cancel context.CancelFunc
	done   chan error
}

// startWorker runs a worker on nc and drv and waits until it is ready to
// take tasks (consumer bound, driver alive), at most 30s.
func startWorker(ctx context.Context, nc *nats.Conn, drv driver.Driver, cfg worker.Config) (*runningWorker, error) {
	w, err := worker.New(nc, drv, cfg, nil)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	rw := &runningWorker{w: w, cancel: cancel, done: make(chan error, 1)}
	go func() { rw.done <- w.Run(wctx) }()
	err = poll(ctx, 30*time.Second, func() (bool, error) {
		select {
		case err := <-rw.done:
			rw.done <- err
			return false, fmt.Errorf("worker stopped at start: %w", err)
		default:
		}
		return w.Ready(ctx) == nil, nil
	})
	if err != nil {
		_ = rw.stop()
		return nil, fmt.Errorf("worker not ready: %w", err)
	}
	return rw, nil
}

// stop ends the worker and waits for it, at most a minute.
func (rw *runningWorker) stop() error {
	rw.cancel()
	select {
	case err := <-rw.done:
		return err
	case <-time.After(time.Minute):
		return errors.New("worker did not stop within a minute")
	}
}

// poll calls cond every 10ms until it returns true or an error, ctx ends
// or within passes.
func poll(ctx context.Context, within time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not done within %v: %w", within, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// warnLoad says so when the 1-minute load average is above the CPU
// count: other work competed with the benchmark.
func (h *harness) warnLoad() {
	f := strings.Fields(loadAvg())
	if len(f) == 0 {
		return
	}
	if l, err := strconv.ParseFloat(f[0], 64); err == nil && l > float64(runtime.NumCPU()) {
		h.logf("  note: load average %.2f is above the %d CPUs: other work is running; figures may be disturbed", l, runtime.NumCPU())
	}
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
