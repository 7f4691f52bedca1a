package fake

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/testimage/testee"
)

// cookie is one prepared "container".
type cookie struct {
	d      *Driver
	task   driver.ContainerTask
	labels map[string]string
	fs     *memFS
	closed atomic.Bool
	ran    atomic.Bool
}

// errTimedOut is the cause of a run's context when the task's timeout ends.
var errTimedOut = errors.New("fake: task timed out")

// Close releases the container; later calls do nothing.
func (c *cookie) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.d.closes.Add(1)
		c.d.live.Add(-1)
		c.d.mu.Lock()
		if c.d.containers[c.task.Id()]--; c.d.containers[c.task.Id()] <= 0 {
			delete(c.d.containers, c.task.Id())
		}
		c.d.mu.Unlock()
	}
	return nil
}

// Run interprets the task's command in-process.
func (c *cookie) Run(ctx context.Context) (driver.RunResult, error) {
	if c.closed.Load() {
		return nil, driver.Permanent(fmt.Errorf("fake: run %s: cookie is closed", c.task.Id()))
	}
	if !c.ran.CompareAndSwap(false, true) {
		return nil, driver.Permanent(fmt.Errorf("fake: run %s: cookie already ran", c.task.Id()))
	}
	d := c.d
	d.runs.Add(1)
	d.running.Add(1)
	raise(&d.maxRun, d.running.Load())
	defer d.running.Add(-1)

	d.mu.Lock()
	panicOn, onRun := d.panicOn, d.onRun
	d.mu.Unlock()
	if panicOn != nil && panicOn(StageRun, c.task) {
		panic(fmt.Sprintf("fake: panic on demand in run of task %s", c.task.Id()))
	}
	if onRun != nil {
		onRun(c.task)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if t := c.task.Timeout(); t > 0 {
		var stop context.CancelFunc
		runCtx, stop = context.WithTimeoutCause(runCtx, t, errTimedOut)
		defer stop()
	}

	limit := c.task.Memory()
	env := c.task.EnvVars()
	stdout, stderr := c.task.Logger()
	in := &testee.Interpreter{
		Getenv: func(k string) string { return env[k] },
		Getwd: func() (string, error) {
			if wd := c.task.WorkDir(); wd != "" {
				return wd, nil
			}
			return "/", nil
		},
		Stdin:  c.task.Input(),
		Stdout: stdout,
		Stderr: stderr,
		IDs:    func() (int, int) { return 0, 0 },
		Files:  c.fs,
		Alloc: func(ctx context.Context, mib int) error {
			if uint64(mib)<<20 > limit {
				return errOOM
			}
			return nil
		},
	}

	started := time.Now()
	statsDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.stats(runCtx, statsDone, limit)
	}()
	argv := c.task.Command()
	if len(argv) == 0 {
		argv = []string{"true"}
	}
	code, err := in.Run(runCtx, argv)
	close(statsDone)
	wg.Wait()

	res := &driver.Result{Code: code, Started: started}
	switch {
	case errors.Is(err, errOOM):
		res.State, res.Code, res.Err = driver.StatusKilled, 137, driver.ErrOutOfMemory
	case err != nil && errors.Is(context.Cause(runCtx), errTimedOut) && ctx.Err() == nil:
		res.State, res.Code, res.Err = driver.StatusTimeout, -1, driver.UserError(fmt.Errorf("timed out after %v", c.task.Timeout()))
	case err != nil:
		res.State, res.Code, res.Err = driver.StatusCancelled, -1, fmt.Errorf("cancelled: %w", context.Cause(ctx))
	case code != 0:
		res.State, res.Err = driver.StatusError, driver.UserError(fmt.Errorf("exit status %d", code))
	default:
		res.State = driver.StatusSuccess
	}
	return res, nil
}

// stats writes one sample at once and then every StatInterval until done,
// from this one goroutine as the contract requires.
func (c *cookie) stats(ctx context.Context, done <-chan struct{}, limit uint64) {
	tick := time.NewTicker(c.d.opts.StatInterval)
	defer tick.Stop()
	start := time.Now()
	for {
		c.task.WriteStat(driver.Stat{Timestamp: time.Now(), Metrics: map[string]uint64{
			driver.MetricCPUTotal: uint64(time.Since(start)),
			driver.MetricMemUsage: 1 << 20,
			driver.MetricMemLimit: limit,
			driver.MetricPids:     1,
		}})
		select {
		case <-tick.C:
		case <-done:
			return
		case <-ctx.Done():
			return
		}
	}
}
