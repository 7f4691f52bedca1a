// Package driver is the contract between jetrun's worker and the container
// runtimes that execute tasks. Each runtime lives in its own subpackage
// (driver/docker), a fake sits beside them (driver/fake) for testing the
// worker's logic, and driver/drivertest is the conformance suite every
// implementation must pass.
//
// The contract is taken from the seed API (shared/seed/drivers-api.txt) and
// keeps its names and promises. Deliberate changes, each invited by the seed's
// own TODO/FIXME or its "this interface is unstable" warning:
//
//   - The task statuses have a named type, [Status] (the seed's TODO).
//   - [ContainerTask.Command] returns argv as []string instead of a string:
//     a single string needs quoting rules nobody can see.
//   - [ContainerTask] gains Memory (bytes) and CPUs (milli-CPUs), so limits
//     travel with the task, resolved by the caller, instead of being Docker
//     specific configuration. A driver applies no defaults: it refuses a
//     task without limits.
//   - [Config] holds only a runtime's settings (host, network, user,
//     read-only root, pids); the admission policy (allow-lists, maxima,
//     defaults) belongs to the caller. [AllowList] is the part of that
//     policy a driver checks again, as defence in depth, where containers
//     are created.
//   - Image references are parsed once, by package imageref; a task may
//     hand over its parsed image ([ParsedImage]). [ParseImage] wraps it.
//   - [RunResult] gains ExitCode and Unwrap, so errors.Is(res, ErrOutOfMemory)
//     works and the exit code reaches the caller.
//   - [Memory.UnmarshalJSON] accepts quoted strings such as "128M"; the seed's
//     version could never parse a quoted JSON string.
//   - [Decimate] returns at most max points, and exactly max for evenly
//     spaced samples (the seed's own "feel free to fix this": its windows
//     could return ceil(len/max) points).
//   - [ParseImage] names Docker Hub's registry "docker.io" rather than "",
//     so every reference has an explicit registry.
//   - A task may say which volumes are read-write ([VolumeMounts]); a
//     driver mounts every other volume read-only. [AllowList.ResolveVolume]
//     resolves a host path's links before it is allowed.
//   - Prepare errors are classified as transient or permanent
//     ([ErrTransient], [ErrPermanent]) so callers retry only what may succeed.
//   - A cookie may copy files into its prepared container and out of its
//     stopped one ([Files], tar streams checked by [ReadArchive]), and a
//     task may ask for scratch directories that keep what it writes there
//     ([ScratchDirs]).
package driver

import (
	"context"
	"io"
	"time"

	"github.com/jetrun/jetrun/imageref"
)

// Status is the final (or current) state of a task as a driver reports it.
type Status string

// Task statuses, with the seed's exact strings.
const (
	StatusRunning   Status = "running"
	StatusSuccess   Status = "success"
	StatusError     Status = "error"
	StatusTimeout   Status = "timeout"
	StatusKilled    Status = "killed"
	StatusCancelled Status = "cancelled"
)

// Final reports whether s is one of the statuses a finished task can have
// ("error", "success", "timeout", "killed", "cancelled").
func (s Status) Final() bool {
	switch s {
	case StatusSuccess, StatusError, StatusTimeout, StatusKilled, StatusCancelled:
		return true
	}
	return false
}

// ContainerTask guides task execution across a wide variety of container
// oriented runtimes. This interface is unstable.
type ContainerTask interface {
	// Command returns the argv to run within the container. Empty means the
	// image's default command.
	Command() []string
	// EnvVars returns environment variable key-value pairs.
	EnvVars() map[string]string
	// Input feeds the container with data on stdin; stdin is closed after it.
	// nil means no input (stdin is not attached).
	Input() io.Reader
	// Labels returns container label key-value pairs.
	Labels() map[string]string
	// Id returns the task's unique id.
	Id() string
	// Image returns the runtime specific image to run.
	Image() string
	// Timeout specifies the maximum time a task is allowed to run. Return 0
	// to let it run forever.
	Timeout() time.Duration
	// Logger returns the writers the driver writes the task's output to. Both
	// must be non-nil. Use io.Discard if the log is irrelevant.
	Logger() (stdout, stderr io.Writer)
	// WriteStat writes a single Stat; implementations need not be thread
	// safe, so a driver calls it from one goroutine at a time.
	WriteStat(Stat)
	// Volumes returns 2-element tuples indicating storage volume mounts. The
	// first element is the path on the host, the second the path in the
	// container.
	Volumes() [][2]string
	// WorkDir returns the working directory to use for the task. Empty
	// string leaves it unset.
	WorkDir() string
	// Memory returns the memory limit in bytes. It must be positive: a
	// driver refuses a task without one (ErrPermanent) rather than pick a
	// default.
	Memory() uint64
	// CPUs returns the CPU limit in milli-CPUs (1000 = one CPU). It must be
	// positive: a driver refuses a task without one (ErrPermanent).
	CPUs() uint64
	// Close is used to perform cleanup after task execution. Close should be
	// safe to call multiple times.
	Close()
}

// ParsedImage is an optional capability of a ContainerTask: a task whose
// image was parsed at admission hands the driver that parsed reference, so
// the driver does not parse it again. It must describe Image().
type ParsedImage interface {
	// ParsedImage returns the parsed Image().
	ParsedImage() imageref.Ref
}

// TaskImage returns the parsed image of task: its ParsedImage when it has
// one, else Image() parsed now.
func TaskImage(task ContainerTask) (imageref.Ref, error) {
	if p, ok := task.(ParsedImage); ok {
		if r := p.ParsedImage(); r.Valid() {
			return r, nil
		}
	}
	return imageref.Parse(task.Image())
}

// Mount is a bind mount of a host path into a task's container.
type Mount struct {
	// Source is the path on the host, Target the path in the container.
	Source, Target string
	// ReadOnly mounts Source read-only.
	ReadOnly bool
}

// VolumeMounts is an optional capability of a ContainerTask: it tells
// whether each of its volumes is read-only. It must describe Volumes(), in
// the same order.
type VolumeMounts interface {
	// VolumeMounts returns Volumes() with their modes.
	VolumeMounts() []Mount
}

// TaskMounts returns the bind mounts of task: its VolumeMounts when it
// has them, else its Volumes(), read-only.
func TaskMounts(task ContainerTask) []Mount {
	if m, ok := task.(VolumeMounts); ok {
		return m.VolumeMounts()
	}
	var mounts []Mount
	for _, v := range task.Volumes() {
		mounts = append(mounts, Mount{Source: v[0], Target: v[1], ReadOnly: true})
	}
	return mounts
}

// PullReporter is an optional capability of a ContainerTask: a driver that
// downloads an image reports progress to a task that implements it. Calls
// come from one goroutine at a time and must not block.
type PullReporter interface {
	// PullProgress receives the latest snapshot of the download.
	PullProgress(PullProgress)
}

// PullProgress is a snapshot of an image download.
type PullProgress struct {
	// Image is the reference being pulled.
	Image string
	// Done and Total are bytes across all layers; Total is 0 while unknown.
	Done, Total int64
}

// Cookie identifies a unique request to run a task. Clients should always
// call Close on a Cookie after they are done with it, whether or not they
// ran it.
type Cookie interface {
	// Close releases everything Prepare created (the container and its
	// anonymous volumes). It is safe to call many times, and after a Run
	// whose context was cancelled.
	io.Closer

	// Run executes the task. If task execution fails due to a problem in the
	// task (non-zero exit, timeout, out of memory, cancellation), Run MUST
	// return a valid RunResult and a nil error; the RunResult's Error and
	// Status tell the failure. If the implementation itself suffers problems
	// (lost connection to the runtime, out of disk, ...), Run returns a nil
	// RunResult and an error, and the task may be retried elsewhere.
	//
	// Run MUST monitor ctx: cancelling it kills the task, and Run returns a
	// RunResult with StatusCancelled promptly. Every byte the container wrote
	// is delivered to the task's Logger before Run returns.
	Run(ctx context.Context) (RunResult, error)
}

// Driver runs ContainerTasks.
type Driver interface {
	// Prepare does any preparation a task needs before it runs (pulling the
	// image, creating the container) and returns a Cookie to run it. Work a
	// task can recover from belongs here: if pulling an image fails because
	// the registry is down, the task need not fail. Errors are classified
	// with ErrTransient or ErrPermanent. A Prepare that fails leaves nothing
	// behind. Callers should Close the cookie regardless of whether they run
	// it.
	//
	// The returned cookie respects the task's timeout when it is run.
	Prepare(ctx context.Context, task ContainerTask) (Cookie, error)
	// IsAlive reports whether the runtime answers.
	IsAlive(ctx context.Context) bool
}

// RunResult indicates only the final state of the task.
type RunResult interface {
	// Error is an actionable/checkable error from the container; "" on
	// success.
	error
	// Unwrap returns the underlying error (nil on success), so that
	// errors.Is(result, ErrOutOfMemory) works.
	Unwrap() error
	// Status returns the final status of the task. Only valid options are
	// StatusError, StatusSuccess, StatusTimeout, StatusKilled and
	// StatusCancelled.
	Status() Status
	// ExitCode returns the container's exit code, or -1 when it never exited
	// on its own (killed for a timeout, a cancel, or never started).
	ExitCode() int
}

// Stat is a bucket of stats from a driver at a point in time for a certain
// task.
type Stat struct {
	// Timestamp is when the sample was taken.
	Timestamp time.Time
	// Metrics maps the Metric* names (and any a driver adds) to values.
	Metrics map[string]uint64
}

// Metric names drivers use in Stat.Metrics, matching the wire protocol.
const (
	MetricCPUTotal  = "cpu_total"  // cumulative CPU time, nanoseconds
	MetricMemUsage  = "mem_usage"  // bytes
	MetricMemLimit  = "mem_limit"  // bytes
	MetricNetRx     = "net_rx"     // bytes
	MetricNetTx     = "net_tx"     // bytes
	MetricDiskRead  = "disk_read"  // bytes
	MetricDiskWrite = "disk_write" // bytes
	MetricPids      = "pids"       // processes
)
