// Package docker runs jetrun tasks as Docker containers through the Docker
// Engine API (the version is negotiated with the daemon, so API 1.41 daemons
// such as Debian's work).
//
// Construct it with New, run tasks with Prepare and the returned cookie's
// Run, and Close it when the worker stops:
//
//	drv, err := docker.New(cfg, docker.Options{WorkerID: id, Logger: logger})
//	if err != nil { ... }
//	defer drv.Close()
//	n, err := drv.RemoveWorkerContainers(ctx, id) // after a crash
//
// Containers get secure defaults from driver.Config: network mode "none",
// every capability dropped, no-new-privileges, a non-root user, a private
// cgroup namespace, a memory limit with no swap, a CPU quota, a pids limit,
// an init process, no log copy on the daemon (log driver "none"),
// optionally a read-only root filesystem with a tmpfs /tmp and a size
// limit of the writable layer, and labels jetrun.task=<task id> and
// jetrun.worker=<worker id> besides the task's own.
//
// Prepare pulls a missing image with the credentials of the Docker config
// file ($DOCKER_CONFIG/config.json or ~/.docker/config.json) for the
// image's registry; concurrent Prepares of one image share one download.
// Its errors are classified with driver.ErrTransient or driver.ErrPermanent
// from Docker's error types.
//
// An out-of-memory kill is known from State.OOMKilled or from the daemon's
// "oom" event for the container, never from exit code 137 alone: the
// driver follows the daemon's oom events for its containers (one event
// stream per Driver, opened by the first Run) as well as the flag. A kill
// the runtime reports by neither ends with status error and exit code 137
// (docs/worker.md says when runtimes do that).
package docker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/docker/docker/client"

	"github.com/jetrun/jetrun/driver"
)

// Labels the driver sets on every container it creates.
const (
	LabelTask   = "jetrun.task"   // the task's id
	LabelWorker = "jetrun.worker" // the creating worker's id
)

// Default values applied by New.
const (
	DefaultPullTimeout       = 15 * time.Minute
	DefaultCleanupTimeout    = 30 * time.Second
	DefaultReconcileInterval = time.Minute
)

// Options are the per-process settings of a Driver; how containers run
// lives in driver.Config.
type Options struct {
	// WorkerID labels every container (jetrun.worker) so a restarted worker
	// can remove what it left behind. Required.
	WorkerID string
	// Logger receives the driver's logs; nil discards them.
	Logger *slog.Logger
	// PullTimeout bounds one image download. Default 15 minutes.
	PullTimeout time.Duration
	// CleanupTimeout bounds removing a container and killing a task.
	// Default 30 seconds.
	CleanupTimeout time.Duration
	// ReconcileInterval is how often the driver removes containers
	// labelled with WorkerID that no cookie of it holds: left by an earlier
	// run of this worker id, or whose removal failed. Default 1 minute;
	// negative disables it. Worker ids must be unique in a fleet.
	ReconcileInterval time.Duration
	// Allow is checked again by Prepare, just before the container is
	// created: images and host volumes outside it are refused
	// (ErrImageNotAllowed, ErrVolumeNotAllowed). The zero value allows any
	// image and no volume; give the same list the caller admits tasks by.
	Allow driver.AllowList
	// DockerConfigDir holds config.json with registry credentials. Empty
	// means $DOCKER_CONFIG, else ~/.docker.
	DockerConfigDir string
}

// Driver runs tasks as Docker containers. It is safe for concurrent use.
type Driver struct {
	cli    *client.Client
	cfg    driver.Config
	opts   Options
	logger *slog.Logger

	negotiateMu sync.Mutex
	negotiated  bool // API version settled: the client is safe to share

	mu          sync.Mutex
	closed      bool
	pulls       map[string]*pull
	pullCancels map[string]context.CancelFunc
	wg          sync.WaitGroup // running downloads
	pullCount   atomic.Int64   // downloads started, for tests and logs

	oom oomEvents
	rec reconciler
}

var _ driver.Driver = (*Driver)(nil)

// New returns a Driver for the daemon at cfg.DockerHost (the environment's
// default when empty), with cfg's zero fields set to their defaults. It
// does not contact the daemon: see IsAlive.
func New(cfg driver.Config, opts Options) (*Driver, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.WorkerID == "" {
		return nil, fmt.Errorf("%w: docker driver: worker id is required", driver.ErrInvalidConfig)
	}
	if opts.PullTimeout <= 0 {
		opts.PullTimeout = DefaultPullTimeout
	}
	if opts.CleanupTimeout <= 0 {
		opts.CleanupTimeout = DefaultCleanupTimeout
	}
	if opts.ReconcileInterval == 0 {
		opts.ReconcileInterval = DefaultReconcileInterval
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clientOpts := []client.Opt{client.FromEnv, client.WithAPIVersionNegotiation()}
	if cfg.DockerHost != "" {
		clientOpts = append(clientOpts, client.WithHost(cfg.DockerHost))
	}
	cli, err := client.NewClientWithOpts(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("%w: docker host %q: %v", driver.ErrInvalidConfig, cfg.DockerHost, err)
	}
	d := &Driver{
		cli:         cli,
		cfg:         cfg,
		opts:        opts,
		logger:      logger.With("driver", "docker", "worker", opts.WorkerID),
		pulls:       make(map[string]*pull),
		pullCancels: make(map[string]context.CancelFunc),
	}
	d.oom.d = d
	d.rec.start(d)
	return d, nil
}

// Close stops downloads in progress, waits for them, and releases the
// client. Containers are left to their cookies. Safe to call many times.
func (d *Driver) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	for _, cancel := range d.pullCancels {
		cancel()
	}
	d.mu.Unlock()
	d.wg.Wait()
	d.rec.close()
	d.oom.stop()
	return d.cli.Close()
}

// ready negotiates the API version once, before the client is used
// concurrently: the Docker client's lazy negotiation races with concurrent
// requests.
func (d *Driver) ready(ctx context.Context) error {
	d.negotiateMu.Lock()
	defer d.negotiateMu.Unlock()
	if d.negotiated {
		return nil
	}
	ping, err := d.cli.Ping(ctx)
	if err != nil {
		return classify(fmt.Errorf("docker daemon at %s: %w", d.cli.DaemonHost(), err))
	}
	d.cli.NegotiateAPIVersionPing(ping)
	if d.cfg.DiskLimit > 0 {
		if err := d.checkDiskLimit(ctx); err != nil {
			return err
		}
	}
	d.negotiated = true
	d.logger.Debug("docker API negotiated", "version", d.cli.ClientVersion(), "daemon_api", ping.APIVersion)
	return nil
}

// checkDiskLimit refuses a DiskLimit the daemon's storage driver cannot
// enforce, with a permanent error wrapping ErrDiskLimitUnsupported. Overlay2
// needs an xfs backing file system; that it is mounted with pquota only
// the daemon can tell, and it refuses the container then.
func (d *Driver) checkDiskLimit(ctx context.Context) error {
	info, err := d.cli.Info(ctx)
	if err != nil {
		return classify(fmt.Errorf("docker daemon at %s: info: %w", d.cli.DaemonHost(), err))
	}
	backing := ""
	for _, kv := range info.DriverStatus {
		if kv[0] == "Backing Filesystem" {
			backing = kv[1]
		}
	}
	switch {
	case info.Driver == "overlay2" && backing == "xfs", info.Driver == "btrfs", info.Driver == "zfs", info.Driver == "devicemapper":
		return nil
	case info.Driver == "overlay2":
		return driver.Permanent(fmt.Errorf("%w: disk limit %s: storage driver overlay2 on %s (it needs xfs mounted with pquota)", ErrDiskLimitUnsupported, d.cfg.DiskLimit, backing))
	}
	return driver.Permanent(fmt.Errorf("%w: disk limit %s: storage driver %s has no size quota", ErrDiskLimitUnsupported, d.cfg.DiskLimit, info.Driver))
}

// IsAlive reports whether the daemon answers a ping.
func (d *Driver) IsAlive(ctx context.Context) bool {
	_, err := d.cli.Ping(ctx)
	return err == nil
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
