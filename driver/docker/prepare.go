package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/jetrun/jetrun/driver"
)

// cpuPeriod is the CFS period the CPU quota is expressed in (100 ms).
const cpuPeriod = 100_000

// tmpfsOptions are the mount options of /tmp on a read-only root, before
// its size.
const tmpfsOptions = "rw,nosuid,nodev,noexec,size="

// Prepare checks the task against the allow-list and its limits, makes its
// image present (pulling it when missing) and creates its container,
// stopped. A failed Prepare leaves no container behind. Errors are
// classified with driver.ErrTransient or driver.ErrPermanent.
func (d *Driver) Prepare(ctx context.Context, task driver.ContainerTask) (driver.Cookie, error) {
	image, err := driver.TaskImage(task)
	if err != nil {
		return nil, driver.Permanent(fmt.Errorf("task %s: image %q: %w", task.Id(), task.Image(), err))
	}
	if !d.opts.Allow.ImageAllowed(image) {
		return nil, driver.Permanent(fmt.Errorf("task %s: %w: %q", task.Id(), ErrImageNotAllowed, task.Image()))
	}
	cfg, hostCfg, err := d.containerConfig(task)
	if err != nil {
		return nil, driver.Permanent(fmt.Errorf("task %s: %w", task.Id(), err))
	}
	if err := d.ready(ctx); err != nil {
		return nil, fmt.Errorf("task %s: %w", task.Id(), err)
	}
	// Check what the daemon resolved the reference to, and create the
	// container from that image's id, so a tag moved after the check
	// cannot swap the image.
	img, err := d.ensureImage(ctx, image, task)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", task.Id(), err)
	}
	if !d.opts.Allow.ResolvedImageAllowed(img.ID, append(slices.Clone(img.RepoTags), img.RepoDigests...)) {
		return nil, driver.Permanent(fmt.Errorf("task %s: %w: %q resolves to image %s, which has no allowed name (tags %q)",
			task.Id(), ErrImageNotAllowed, task.Image(), shortID(strings.TrimPrefix(img.ID, "sha256:")), img.RepoTags))
	}
	cfg.Image = img.ID

	if hostCfg.Mounts, err = d.bindMounts(task); err != nil {
		return nil, driver.Permanent(fmt.Errorf("task %s: %w", task.Id(), err))
	}
	scratch, err := scratchMounts(task)
	if err != nil {
		return nil, driver.Permanent(fmt.Errorf("task %s: %w", task.Id(), err))
	}
	hostCfg.Mounts = append(hostCfg.Mounts, scratch...)

	name := containerName(task.Id())
	d.rec.hold(name)
	resp, err := d.cli.ContainerCreate(ctx, cfg, hostCfg, nil, nil, name)
	if err != nil {
		// The daemon may have created it before ctx ended: remove by name.
		d.removeQuietly(name)
		d.rec.release(name)
		return nil, classify(fmt.Errorf("task %s: create container: %w", task.Id(), err))
	}
	for _, w := range resp.Warnings {
		d.logger.Warn("container created with a warning", "task", task.Id(), "warning", w)
	}
	d.logger.Debug("container created", "task", task.Id(), "container", shortID(resp.ID), "image", task.Image())
	return &cookie{d: d, task: task, id: resp.ID, name: name, stdin: cfg.OpenStdin}, nil
}

// containerConfig translates the task and the driver's runtime settings
// into Docker's container and host configuration.
func (d *Driver) containerConfig(task driver.ContainerTask) (*container.Config, *container.HostConfig, error) {
	memory, cpus := task.Memory(), task.CPUs()
	switch {
	case memory == 0:
		return nil, nil, fmt.Errorf("%w: memory is 0", ErrNoLimit)
	case memory > math.MaxInt64:
		return nil, nil, fmt.Errorf("%w: memory %d bytes is beyond what Docker takes", ErrNoLimit, memory)
	case cpus == 0:
		return nil, nil, fmt.Errorf("%w: cpus is 0", ErrNoLimit)
	case cpus > math.MaxInt64/cpuPeriod:
		return nil, nil, fmt.Errorf("%w: cpus %d milli-CPUs is beyond what Docker takes", ErrNoLimit, cpus)
	}

	labels := make(map[string]string, len(task.Labels())+2)
	maps.Copy(labels, task.Labels())
	labels[LabelTask] = task.Id()
	labels[LabelWorker] = d.opts.WorkerID

	env := make([]string, 0, len(task.EnvVars()))
	for _, k := range slices.Sorted(maps.Keys(task.EnvVars())) {
		env = append(env, k+"="+task.EnvVars()[k])
	}

	for _, m := range driver.TaskMounts(task) {
		if !d.opts.Allow.VolumeAllowed(m.Source) {
			return nil, nil, fmt.Errorf("%w: %q is not under an allowed volume root", ErrVolumeNotAllowed, m.Source)
		}
		if !filepath.IsAbs(m.Target) {
			return nil, nil, fmt.Errorf("%w: container path %q is not absolute", ErrVolumeNotAllowed, m.Target)
		}
	}

	hasInput := task.Input() != nil
	cfg := &container.Config{
		Image:        task.Image(),
		Cmd:          task.Command(),
		Env:          env,
		Labels:       labels,
		WorkingDir:   task.WorkDir(),
		User:         d.cfg.ContainerUser(),
		AttachStdin:  hasInput,
		OpenStdin:    hasInput,
		StdinOnce:    hasInput,
		AttachStdout: true,
		AttachStderr: true,
	}
	if d.cfg.NetworkMode == "none" {
		cfg.NetworkDisabled = true
	}
	init := true
	pids := d.cfg.PidsLimit
	hostCfg := &container.HostConfig{
		NetworkMode:    container.NetworkMode(d.cfg.NetworkMode),
		CapDrop:        []string{"ALL"},
		SecurityOpt:    []string{"no-new-privileges:true"},
		ReadonlyRootfs: d.cfg.ReadOnlyRootfs,
		Init:           &init,
		CgroupnsMode:   container.CgroupnsMode(d.cfg.CgroupNamespace),
		// The driver attaches to the output itself; the daemon keeps no
		// copy on the host's disk.
		LogConfig: container.LogConfig{Type: "none"},
		Resources: container.Resources{
			Memory:     int64(memory),
			MemorySwap: int64(memory), // equal to Memory: no swap
			CPUPeriod:  cpuPeriod,
			CPUQuota:   int64(cpus) * cpuPeriod / 1000,
			PidsLimit:  &pids,
		},
	}
	if d.cfg.ReadOnlyRootfs {
		hostCfg.Tmpfs = map[string]string{"/tmp": tmpfsOptions + strconv.FormatUint(uint64(d.cfg.TmpfsSize), 10)}
	}
	if d.cfg.DiskLimit > 0 {
		hostCfg.StorageOpt = map[string]string{"size": strconv.FormatUint(uint64(d.cfg.DiskLimit), 10)}
	}
	return cfg, hostCfg, nil
}

// bindMounts resolves the task's volumes just before the container is
// created. Each host path must resolve, within the allowed roots, to
// itself: the caller hands over resolved paths, so a different resolution
// means a link appeared or changed since, and the task is refused
// (ErrVolumeNotAllowed). Volumes are read-only unless the task says
// otherwise (driver.VolumeMounts).
func (d *Driver) bindMounts(task driver.ContainerTask) ([]mount.Mount, error) {
	var mounts []mount.Mount
	for _, m := range driver.TaskMounts(task) {
		real, err := d.opts.Allow.ResolveVolume(m.Source)
		if err != nil {
			return nil, err
		}
		if real != m.Source {
			return nil, fmt.Errorf("%w: %q resolves to %q now: a link changed since the task was admitted", ErrVolumeNotAllowed, m.Source, real)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeBind, Source: real, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	return mounts, nil
}

// containerName is a unique, readable name for a task's container.
func containerName(taskID string) string {
	var b strings.Builder
	b.WriteString("jetrun-")
	for _, r := range taskID {
		if b.Len() >= 7+64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	var nonce [4]byte
	rand.Read(nonce[:])
	b.WriteByte('-')
	b.WriteString(hex.EncodeToString(nonce[:]))
	return b.String()
}

// removeQuietly force-removes a container by id or name under a fresh
// bounded context; a missing container is fine, other failures are logged.
func (d *Driver) removeQuietly(idOrName string) error {
	ctx, cancel := context.WithTimeout(context.Background(), d.opts.CleanupTimeout)
	defer cancel()
	err := d.cli.ContainerRemove(ctx, idOrName, container.RemoveOptions{Force: true, RemoveVolumes: true})
	if err == nil || cerrdefs.IsNotFound(err) {
		return nil
	}
	d.logger.Warn("remove container failed", "container", idOrName, "err", err)
	return classify(fmt.Errorf("remove container %s: %w", idOrName, err))
}
