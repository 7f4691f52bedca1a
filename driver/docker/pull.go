package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/imageref"
)

// progressEvery bounds how often pull progress is reported to each task.
const progressEvery = 250 * time.Millisecond

// pull is one download of an image shared by every Prepare that needs it.
type pull struct {
	done chan struct{}         // closed when the download ended
	err  error                 // set before done is closed
	info image.InspectResponse // the image downloaded, set with err

	mu        sync.Mutex
	reporters map[*reporterRef]struct{}
	last      driver.PullProgress
}

// reporterRef is one waiting task's registration for progress.
type reporterRef struct{ r driver.PullReporter }

// ensureImage makes image present locally and returns what the daemon
// resolved it to: it inspects it, and when it is missing downloads it,
// sharing one download between concurrent callers. The download runs on a
// context detached from ctx (bounded by Options.PullTimeout), so a caller
// that gives up does not fail the others.
func (d *Driver) ensureImage(ctx context.Context, img imageref.Ref, task driver.ContainerTask) (image.InspectResponse, error) {
	ref := img.Original()
	info, err := d.cli.ImageInspect(ctx, ref)
	if err == nil {
		return info, nil
	}
	if !cerrdefs.IsNotFound(err) {
		return info, classify(fmt.Errorf("inspect image %q: %w", ref, err))
	}

	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return info, driver.Transient(ErrClosed)
	}
	p, ok := d.pulls[ref]
	if !ok {
		p = &pull{done: make(chan struct{}), reporters: make(map[*reporterRef]struct{})}
		d.pulls[ref] = p
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.opts.PullTimeout)
		d.pullCancels[ref] = cancel
		d.wg.Add(1)
		go func() {
			defer d.wg.Done()
			defer cancel()
			err := d.pull(pctx, img, p)
			d.mu.Lock()
			delete(d.pulls, ref)
			delete(d.pullCancels, ref)
			d.mu.Unlock()
			p.err = err
			close(p.done)
		}()
	}
	d.mu.Unlock()

	if r, ok := task.(driver.PullReporter); ok {
		reg := &reporterRef{r}
		p.mu.Lock()
		p.reporters[reg] = struct{}{}
		if p.last.Image != "" {
			r.PullProgress(p.last) // a late joiner starts where the pull is
		}
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.reporters, reg)
			p.mu.Unlock()
		}()
	}

	select {
	case <-p.done:
		return p.info, p.err
	case <-ctx.Done():
		return info, driver.Transient(fmt.Errorf("pull image %q: gave up waiting: %w", ref, context.Cause(ctx)))
	}
}

// pull downloads img, reporting progress to p's registered tasks. Its
// errors wrap driver.ErrImageUnavailable.
func (d *Driver) pull(ctx context.Context, img imageref.Ref, p *pull) error {
	err := d.download(ctx, img, p)
	if err == nil || errors.Is(err, ErrClosed) {
		return err
	}
	return fmt.Errorf("%w: %w", driver.ErrImageUnavailable, err)
}

// download is pull without the error's class.
func (d *Driver) download(ctx context.Context, img imageref.Ref, p *pull) error {
	ref, host := img.Original(), img.Domain()
	auth, err := registryAuth(ctx, configDir(d.opts.DockerConfigDir), host)
	if err != nil {
		// A broken config file will not fix itself.
		return driver.Permanent(fmt.Errorf("pull image %q: credentials: %w", ref, err))
	}
	d.pullCount.Add(1)
	d.logger.Info("pulling image", "image", ref, "registry", host, "auth", auth != "")
	start := time.Now()
	body, err := d.cli.ImagePull(ctx, ref, image.PullOptions{RegistryAuth: auth})
	if err != nil {
		err = fmt.Errorf("pull image %q from %s: %w", ref, host, err)
		if unresolvable(err) {
			return driver.Permanent(fmt.Errorf("%w (the registry host %s does not resolve: check the image name)", err, host))
		}
		return classify(err)
	}
	defer body.Close()

	tr := newProgressTracker(ref)
	dec := json.NewDecoder(body)
	var lastReport time.Time
	for {
		var msg jsonmessage.JSONMessage
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return classify(fmt.Errorf("pull image %q: reading progress: %w", ref, err))
		}
		if msg.Error != nil {
			// The registry accepted the request and the download broke
			// later: the daemon sends no type, only a message.
			return driver.Transient(fmt.Errorf("pull image %q: %w: %s", ref, ErrPullStream, msg.Error.Message))
		}
		if tr.update(&msg) && time.Since(lastReport) >= progressEvery {
			lastReport = time.Now()
			p.report(tr.snapshot())
		}
	}
	// The stream can end without an error when the daemon gave up; check.
	info, err := d.cli.ImageInspect(ctx, ref)
	if err != nil {
		return classify(fmt.Errorf("pull image %q: image missing after download: %w", ref, err))
	}
	p.info = info
	final := tr.snapshot()
	if final.Total > 0 {
		final.Done = final.Total
	}
	p.report(final)
	d.logger.Info("pulled image", "image", ref, "bytes", final.Total, "duration", time.Since(start))
	return nil
}

// report sends progress to every registered task, one at a time.
func (p *pull) report(pp driver.PullProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = pp
	for reg := range p.reporters {
		reg.r.PullProgress(pp)
	}
}

// progressTracker sums the progress of every layer of a download.
type progressTracker struct {
	image  string
	layers map[string]*layerProgress
}

type layerProgress struct{ done, total int64 }

func newProgressTracker(image string) *progressTracker {
	return &progressTracker{image: image, layers: make(map[string]*layerProgress)}
}

// update applies one progress message and reports whether it changed the
// totals.
func (t *progressTracker) update(msg *jsonmessage.JSONMessage) bool {
	if msg.ID == "" {
		return false
	}
	l := t.layers[msg.ID]
	switch msg.Status {
	case "Downloading":
		if msg.Progress == nil {
			return false
		}
		if l == nil {
			l = &layerProgress{}
			t.layers[msg.ID] = l
		}
		l.done, l.total = msg.Progress.Current, msg.Progress.Total
		return true
	case "Download complete", "Pull complete", "Already exists":
		if l != nil && l.total > 0 && l.done != l.total {
			l.done = l.total
			return true
		}
	}
	return false
}

func (t *progressTracker) snapshot() driver.PullProgress {
	pp := driver.PullProgress{Image: t.image}
	for _, l := range t.layers {
		pp.Done += l.done
		pp.Total += l.total
	}
	return pp
}

// unresolvable reports whether a pull failed because the registry's host
// name does not resolve. The daemon reports that as a plain 500, so only
// its text tells; a name that does not resolve is almost always a
// mistyped image (or an image name given where a command was meant), and
// retrying it for minutes helps no one.
func unresolvable(err error) bool {
	return strings.Contains(err.Error(), ": no such host")
}
