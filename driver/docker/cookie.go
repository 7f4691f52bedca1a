package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/jetrun/jetrun/driver"
)

// Causes of a task's end that Run distinguishes.
var (
	errTimedOut = errors.New("task timed out")
	errCanceled = errors.New("task cancelled")
)

// outputGrace bounds how long Run waits for the output of a killed
// container to drain, so a cancelled Run returns promptly.
const outputGrace = time.Second

// cookie is a created container ready to run one task.
type cookie struct {
	d     *Driver
	task  driver.ContainerTask
	id    string
	name  string
	stdin bool

	runMu sync.Mutex
	ran   bool

	closeMu sync.Mutex
	removed bool
}

var _ driver.Cookie = (*cookie)(nil)

// Run starts the container and waits for it to end, streaming its output
// to the task's Logger and its stats to the task's WriteStat. See
// driver.Cookie for the contract; a cookie runs at most once.
func (c *cookie) Run(ctx context.Context) (driver.RunResult, error) {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.ran {
		return nil, driver.Permanent(fmt.Errorf("task %s: container %s already ran", c.task.Id(), shortID(c.id)))
	}
	c.ran = true
	if err := context.Cause(ctx); err != nil {
		return &driver.Result{State: driver.StatusCancelled, Code: -1, Err: fmt.Errorf("%w before start: %w", errCanceled, err)}, nil
	}
	log := c.d.logger.With("task", c.task.Id(), "container", shortID(c.id))

	// Daemon calls of this run must survive ctx: after a cancel the
	// container still has to be killed and waited for.
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	defer stop()

	att, err := c.d.cli.ContainerAttach(rctx, c.id, container.AttachOptions{
		Stream: true, Stdin: c.stdin, Stdout: true, Stderr: true,
	})
	if err != nil {
		return nil, classify(fmt.Errorf("task %s: attach: %w", c.task.Id(), err))
	}
	defer att.Close()
	waitC, waitErrC := c.d.cli.ContainerWait(rctx, c.id, container.WaitConditionNextExit)

	stdout, stderr := c.task.Logger()
	copyDone := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(stdout, stderr, att.Reader)
		copyDone <- err
	}()

	oom := c.d.oom.watch(c.id)
	defer c.d.oom.forget(c.id)
	if err := c.d.cli.ContainerStart(rctx, c.id, container.StartOptions{}); err != nil {
		att.Close()
		<-copyDone
		return c.startFailed(err)
	}
	started := time.Now()

	if c.stdin {
		// Not waited for: the task's reader may block; closing the
		// connection when Run returns ends the copy.
		go c.feedStdin(att.Conn, att.CloseWrite, log)
	}
	stopStats := c.collectStats(rctx, log)
	defer stopStats()

	var timeout <-chan time.Time
	if d := c.task.Timeout(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}

	var (
		cause error // why we killed it; nil when it exited on its own
		exit  container.WaitResponse
	)
	select {
	case exit = <-waitC:
	case err := <-waitErrC:
		c.kill(log)
		return nil, classify(fmt.Errorf("task %s: wait for container: %w", c.task.Id(), err))
	case <-timeout:
		cause = fmt.Errorf("%w after %s", errTimedOut, c.task.Timeout())
	case <-ctx.Done():
		cause = fmt.Errorf("%w: %w", errCanceled, context.Cause(ctx))
	}
	if cause != nil {
		c.kill(log)
		select {
		case exit = <-waitC:
		case err := <-waitErrC:
			return nil, classify(fmt.Errorf("task %s: wait for killed container: %w", c.task.Id(), err))
		case <-time.After(c.d.opts.CleanupTimeout):
			return nil, driver.Transient(fmt.Errorf("task %s: container %s still running %s after kill", c.task.Id(), shortID(c.id), c.d.opts.CleanupTimeout))
		}
	}
	stopStats()

	// Deliver the output. After a kill, only briefly: the caller waits.
	var grace <-chan time.Time
	if cause != nil {
		grace = time.After(outputGrace)
	}
	select {
	case err := <-copyDone:
		if err != nil {
			log.Warn("reading container output failed", "err", err)
		}
	case <-grace:
		log.Warn("container output still flowing after kill; dropped the rest")
		att.Close()
		<-copyDone
	}

	return c.result(exit, cause, started, oom)
}

// result inspects the exited container and tells how the task ended.
func (c *cookie) result(exit container.WaitResponse, cause error, started time.Time, oom <-chan struct{}) (driver.RunResult, error) {
	ictx, cancel := context.WithTimeout(context.Background(), c.d.opts.CleanupTimeout)
	defer cancel()
	info, oomKilled, err := c.inspectExited(ictx, exit, cause, oom)
	if err != nil {
		return nil, classify(fmt.Errorf("task %s: inspect exited container: %w", c.task.Id(), err))
	}
	if info.State != nil {
		if t, err := time.Parse(time.RFC3339Nano, info.State.StartedAt); err == nil && !t.IsZero() {
			started = t
		}
	}
	res := &driver.Result{Code: int(exit.StatusCode), Started: started}
	switch {
	case errors.Is(cause, errCanceled):
		res.State, res.Code, res.Err = driver.StatusCancelled, -1, cause
	case errors.Is(cause, errTimedOut):
		res.State, res.Code, res.Err = driver.StatusTimeout, -1, driver.UserError(cause)
	case oomKilled:
		res.State, res.Err = driver.StatusKilled, driver.ErrOutOfMemory
	case exit.StatusCode == 0:
		res.State = driver.StatusSuccess
	default:
		res.State = driver.StatusError
		res.Err = driver.UserError(fmt.Errorf("exit code %d", exit.StatusCode))
	}
	if exit.Error != nil && exit.Error.Message != "" && res.Err == nil {
		res.State, res.Err = driver.StatusError, driver.UserError(errors.New(exit.Error.Message))
	}
	return res, nil
}

// startFailed turns a start error into a result when the task caused it
// (its command does not exist in the image, its volume hides /proc or puts
// a directory where the runtime needs a file), or into an error when the
// daemon did.
func (c *cookie) startFailed(err error) (driver.RunResult, error) {
	if !cerrdefs.IsInvalidArgument(err) && !cerrdefs.IsNotFound(err) && !cerrdefs.IsPermissionDenied(err) && !containerInitFailed(err) {
		return nil, classify(fmt.Errorf("task %s: start container: %w", c.task.Id(), err))
	}
	code := -1
	ictx, cancel := context.WithTimeout(context.Background(), c.d.opts.CleanupTimeout)
	defer cancel()
	if info, ierr := c.d.cli.ContainerInspect(ictx, c.id); ierr == nil && info.State != nil && info.State.ExitCode != 0 {
		code = info.State.ExitCode
	}
	return &driver.Result{
		State: driver.StatusError,
		Code:  code,
		Err:   driver.UserError(fmt.Errorf("container did not start: %w", err)),
	}, nil
}

// kill sends SIGKILL under a fresh bounded context. A container that
// already stopped is fine.
func (c *cookie) kill(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), c.d.opts.CleanupTimeout)
	defer cancel()
	err := c.d.cli.ContainerKill(ctx, c.id, "KILL")
	if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
		log.Warn("kill container failed", "err", err)
	}
}

// feedStdin copies the task's input to the container and closes its stdin.
func (c *cookie) feedStdin(w io.Writer, closeWrite func() error, log *slog.Logger) {
	if in := c.task.Input(); in != nil {
		if _, err := io.Copy(w, in); err != nil {
			log.Debug("feeding stdin stopped", "err", err)
		}
	}
	if err := closeWrite(); err != nil {
		log.Debug("closing stdin failed", "err", err)
	}
}

// Close force-removes the container and its anonymous volumes under a
// fresh bounded context. It is safe to call many times, concurrently, and
// after a cancelled Run; once it succeeded it does nothing.
func (c *cookie) Close() error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.removed {
		return nil
	}
	err := c.d.removeQuietly(c.id)
	// Removed, or left to the reconciler.
	c.d.rec.release(c.name)
	if err != nil {
		return fmt.Errorf("task %s: %w", c.task.Id(), err)
	}
	c.removed = true
	return nil
}

// oomSettle bounds how long result waits for the daemon's OOM event.
const oomSettle = time.Second

// inspectExited inspects the exited container and tells whether the kernel
// killed it for memory. State.OOMKilled alone is not enough: Docker 20.10
// handles the OOM and exit events apart and can finish an exit with the
// flag unset while its "oom" event is still reported (seen after the
// "die" event). So when the process died of a SIGKILL (exit 137) we did
// not send and the flag is not set, it waits up to oomSettle for that
// event. Only the flag or the event count as
// an OOM kill, never the exit code itself.
func (c *cookie) inspectExited(ctx context.Context, exit container.WaitResponse, cause error, oom <-chan struct{}) (container.InspectResponse, bool, error) {
	info, err := c.d.cli.ContainerInspect(ctx, c.id)
	if err != nil {
		return info, false, err
	}
	if info.State != nil && info.State.OOMKilled {
		return info, true, nil
	}
	if cause != nil || exit.StatusCode != 137 {
		return info, false, nil
	}
	t := time.NewTimer(oomSettle)
	defer t.Stop()
	select {
	case <-oom:
		return info, true, nil
	case <-t.C:
	case <-ctx.Done():
	}
	return info, false, nil
}
