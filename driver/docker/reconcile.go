package docker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// reconciler removes, every Options.ReconcileInterval, the containers
// labelled with this driver's worker id that none of its cookies holds:
// left by an earlier run of the worker id, or whose removal failed.
type reconciler struct {
	d *Driver

	mu   sync.Mutex
	held map[string]struct{} // names of containers being created or held by a cookie
	stop func()              // ends the loop and waits for it; nil when not started
}

// hold marks the container name as the driver's own until release: Prepare
// calls it before creating the container.
func (r *reconciler) hold(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held == nil {
		r.held = make(map[string]struct{})
	}
	r.held[name] = struct{}{}
}

// release gives the container name up: it is removed, or its removal failed
// and the next reconcile removes it.
func (r *reconciler) release(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.held, name)
}

func (r *reconciler) isHeld(names []string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range names {
		if _, ok := r.held[strings.TrimPrefix(n, "/")]; ok {
			return true
		}
	}
	return false
}

// start runs the loop when the interval is positive.
func (r *reconciler) start(d *Driver) {
	r.d = d
	every := d.opts.ReconcileInterval
	if every <= 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	r.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			rctx, rcancel := context.WithTimeout(ctx, d.opts.CleanupTimeout)
			n, err := d.Reconcile(rctx)
			rcancel()
			switch {
			case err != nil && ctx.Err() == nil:
				d.logger.Warn("reconcile containers", "removed", n, "err", err)
			case n > 0:
				d.logger.Warn("removed orphaned containers", "count", n)
			}
		}
	}()
}

func (r *reconciler) close() {
	if r.stop != nil {
		r.stop()
	}
}

// Reconcile force-removes the containers labelled jetrun.worker=WorkerID
// that no cookie of this Driver holds, and returns how many it removed. The
// driver calls it every Options.ReconcileInterval.
func (d *Driver) Reconcile(ctx context.Context) (int, error) {
	return d.removeContainers(ctx, d.opts.WorkerID, d.rec.isHeld)
}

// RemoveWorkerContainers force-removes every container (running or not)
// labelled jetrun.worker=workerID, with its anonymous volumes, and returns
// how many it removed. A worker calls it at start to clean up after a crash.
func (d *Driver) RemoveWorkerContainers(ctx context.Context, workerID string) (int, error) {
	return d.removeContainers(ctx, workerID, func([]string) bool { return false })
}

// removeContainers removes the containers of workerID except those whose
// names keep reports.
func (d *Driver) removeContainers(ctx context.Context, workerID string, keep func(names []string) bool) (int, error) {
	if workerID == "" {
		return 0, errors.New("remove worker containers: empty worker id")
	}
	if err := d.ready(ctx); err != nil {
		return 0, err
	}
	list, err := d.cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelWorker+"="+workerID)),
	})
	if err != nil {
		return 0, classify(fmt.Errorf("list containers of worker %q: %w", workerID, err))
	}
	removed := 0
	var errs []error
	for _, c := range list {
		if keep(c.Names) {
			continue
		}
		err := d.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil:
			removed++
			d.logger.Info("removed leftover container", "container", shortID(c.ID), "task", c.Labels[LabelTask])
		case cerrdefs.IsNotFound(err):
		default:
			errs = append(errs, fmt.Errorf("remove container %s: %w", shortID(c.ID), err))
		}
	}
	return removed, errors.Join(errs...)
}
