// Package fake is an in-process driver.Driver for testing code that runs
// tasks, chiefly the worker. It interprets the testee step language (see
// internal/testimage/testee) instead of starting containers, so the
// conformance suite driver/drivertest runs unchanged against it and the real
// Docker driver.
//
// Beyond the contract it has knobs for tests: queued Prepare errors
// (classified with driver.Transient or driver.Permanent), a Prepare delay,
// simulated image pulls that report progress, panics on demand, and counters
// of prepares, runs, closes and live containers. It honours the task's
// context, Timeout and Memory like a real runtime: cancelling stops a run at
// once (even after ignore-sigterm), a timeout gives StatusTimeout, and an
// alloc step above the memory limit is "OOM-killed". Each "container" has
// an in-memory file system that the file steps, CopyIn and CopyOut
// (driver.Files) share.
package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/driver"
)

// Options configure a Driver; the zero value is ready to use.
type Options struct {
	// Allow is the allow-list a real driver checks again at Prepare:
	// volumes outside its roots and images outside its patterns are
	// permanent errors. The zero value allows any image and no volume.
	Allow driver.AllowList
	// WorkerID is set as the jetrun.worker label, like the Docker driver.
	WorkerID string
	// StatInterval is how often a running task gets a Stat. Default 50ms.
	StatInterval time.Duration
}

// Driver is the fake driver. It is safe for concurrent use. Create it with
// New.
type Driver struct {
	opts Options

	mu           sync.Mutex
	prepareErrs  []error
	prepareDelay time.Duration
	pulls        map[string]pull // image -> pull still to simulate
	missing      map[string]bool // images Prepare cannot find
	containers   map[string]int  // task id -> live containers
	panicOn      func(stage string, task driver.ContainerTask) bool
	onRun        func(task driver.ContainerTask)

	dead     atomic.Bool
	prepares atomic.Int64
	runs     atomic.Int64
	closes   atomic.Int64
	live     atomic.Int64
	maxLive  atomic.Int64
	running  atomic.Int64
	maxRun   atomic.Int64
}

type pull struct {
	total int64
	steps int
	every time.Duration
}

var _ driver.Driver = (*Driver)(nil)

// Stages passed to the PanicOn predicate.
const (
	StagePrepare = "prepare"
	StageRun     = "run"
)

// New returns a fake driver with opts.
func New(opts Options) *Driver {
	if opts.StatInterval <= 0 {
		opts.StatInterval = 50 * time.Millisecond
	}
	return &Driver{opts: opts, pulls: make(map[string]pull), missing: make(map[string]bool), containers: make(map[string]int)}
}

// FailPrepare queues errors: the next len(errs) Prepare calls return them
// in order (a nil entry lets that call succeed). Classify them with
// driver.Transient or driver.Permanent.
func (d *Driver) FailPrepare(errs ...error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prepareErrs = append(d.prepareErrs, errs...)
}

// SetPrepareDelay makes every later Prepare wait delay first (or until its
// context ends).
func (d *Driver) SetPrepareDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.prepareDelay = delay
}

// SimulatePull makes the next Prepare of image "download" total bytes in
// steps progress reports, every apart, to a task implementing
// driver.PullReporter. After one successful pull the image is present.
func (d *Driver) SimulatePull(image string, total int64, steps int, every time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if steps < 1 {
		steps = 1
	}
	d.pulls[image] = pull{total: total, steps: steps, every: every}
}

// MarkMissing makes image one that cannot be found: Prepare fails with a
// permanent error, as for a registry's "manifest unknown".
func (d *Driver) MarkMissing(image string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.missing[image] = true
}

// Containers returns how many "containers" of task id exist.
func (d *Driver) Containers(taskID string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.containers[taskID]
}

// Labels returns the labels of the "container" behind a cookie this driver
// prepared: the task's labels plus jetrun.task and jetrun.worker. nil for a
// cookie of another driver.
func (d *Driver) Labels(c driver.Cookie) map[string]string {
	ck, ok := c.(*cookie)
	if !ok || ck.d != d {
		return nil
	}
	return ck.labels
}

// PanicOn installs a predicate: Prepare (stage StagePrepare) or Run (stage
// StageRun) panics when it returns true for the task. nil removes it.
func (d *Driver) PanicOn(f func(stage string, task driver.ContainerTask) bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.panicOn = f
}

// OnRun installs a hook called at the start of every Run, before the steps.
func (d *Driver) OnRun(f func(task driver.ContainerTask)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.onRun = f
}

// SetAlive sets what IsAlive reports (true initially).
func (d *Driver) SetAlive(alive bool) { d.dead.Store(!alive) }

// IsAlive reports whether the fake runtime "answers" (see SetAlive).
func (d *Driver) IsAlive(ctx context.Context) bool { return ctx.Err() == nil && !d.dead.Load() }

// Prepares returns how many times Prepare was called.
func (d *Driver) Prepares() int64 { return d.prepares.Load() }

// Runs returns how many times Run was called.
func (d *Driver) Runs() int64 { return d.runs.Load() }

// Closes returns how many cookies were closed (each counted once).
func (d *Driver) Closes() int64 { return d.closes.Load() }

// Live returns how many "containers" exist: prepared and not yet closed.
func (d *Driver) Live() int64 { return d.live.Load() }

// MaxLive returns the most containers that existed at once.
func (d *Driver) MaxLive() int64 { return d.maxLive.Load() }

// Running returns how many Runs are in progress.
func (d *Driver) Running() int64 { return d.running.Load() }

// MaxRunning returns the most Runs that were in progress at once.
func (d *Driver) MaxRunning() int64 { return d.maxRun.Load() }

// Prepare checks the task, applies the knobs (delay, queued error, pull,
// panic) and returns a cookie holding a "container".
func (d *Driver) Prepare(ctx context.Context, task driver.ContainerTask) (driver.Cookie, error) {
	d.prepares.Add(1)
	d.mu.Lock()
	delay := d.prepareDelay
	var injected error
	if len(d.prepareErrs) > 0 {
		injected = d.prepareErrs[0]
		d.prepareErrs = d.prepareErrs[1:]
	}
	p, pulling := d.pulls[task.Image()]
	missing := d.missing[task.Image()]
	panicOn := d.panicOn
	d.mu.Unlock()

	if panicOn != nil && panicOn(StagePrepare, task) {
		panic(fmt.Sprintf("fake: panic on demand in prepare of task %s", task.Id()))
	}
	if err := sleep(ctx, delay); err != nil {
		return nil, driver.Transient(fmt.Errorf("fake: prepare %s: %w", task.Id(), err))
	}
	if injected != nil {
		return nil, injected
	}
	image, err := driver.TaskImage(task)
	if err != nil {
		return nil, driver.Permanent(fmt.Errorf("fake: image %q: %w", task.Image(), err))
	}
	if !d.opts.Allow.ImageAllowed(image) {
		return nil, driver.Permanent(fmt.Errorf("fake: image %q is not allowed", task.Image()))
	}
	if task.Memory() == 0 || task.CPUs() == 0 {
		return nil, driver.Permanent(fmt.Errorf("fake: task %s has no memory or CPU limit (memory %d, cpus %d)", task.Id(), task.Memory(), task.CPUs()))
	}
	for _, m := range driver.TaskMounts(task) {
		if _, err := d.opts.Allow.ResolveVolume(m.Source); err != nil {
			return nil, driver.Permanent(fmt.Errorf("fake: %w", err))
		}
	}
	if missing {
		return nil, driver.Permanent(fmt.Errorf("fake: %w: image %q: not found", driver.ErrImageUnavailable, task.Image()))
	}
	if task.Memory() < 6<<20 {
		return nil, driver.Permanent(fmt.Errorf("fake: memory %d bytes is below the 6 MiB minimum", task.Memory()))
	}
	if pulling {
		if err := d.pull(ctx, task, p); err != nil {
			return nil, err
		}
	}
	labels := map[string]string{}
	for k, v := range task.Labels() {
		labels[k] = v
	}
	labels["jetrun.task"] = task.Id()
	if d.opts.WorkerID != "" {
		labels["jetrun.worker"] = d.opts.WorkerID
	}
	d.mu.Lock()
	d.containers[task.Id()]++
	d.mu.Unlock()
	d.live.Add(1)
	raise(&d.maxLive, d.live.Load())
	return &cookie{d: d, task: task, labels: labels, fs: newMemFS(driver.TaskScratchDirs(task))}, nil
}

func (d *Driver) pull(ctx context.Context, task driver.ContainerTask, p pull) error {
	rep, _ := task.(driver.PullReporter)
	for i := 1; i <= p.steps; i++ {
		if err := sleep(ctx, p.every); err != nil {
			return driver.Transient(fmt.Errorf("fake: pull %q: %w", task.Image(), err))
		}
		if rep != nil {
			rep.PullProgress(driver.PullProgress{Image: task.Image(), Done: p.total * int64(i) / int64(p.steps), Total: p.total})
		}
	}
	d.mu.Lock()
	delete(d.pulls, task.Image())
	d.mu.Unlock()
	return nil
}

// raise sets max to v when v is larger.
func raise(max *atomic.Int64, v int64) {
	for {
		cur := max.Load()
		if v <= cur || max.CompareAndSwap(cur, v) {
			return
		}
	}
}

// sleep waits for d or until ctx ends, returning its cause.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return context.Cause(ctx)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// errOOM is returned by the alloc hook when a task exceeds its limit.
var errOOM = errors.New("fake: allocation above the memory limit")
