package drivertest

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/testproc"
)

var taskSeq atomic.Int64

// Task is a ready driver.ContainerTask for tests. Set its fields before
// Prepare; read what the driver delivered with Stdout, Stderr, Stats and
// Pulls. It also implements driver.PullReporter.
type Task struct {
	ID          string            // unique by default (see NewTask)
	Img         string            // image reference
	Args        []string          // Command
	Env         map[string]string // EnvVars
	Stdin       []byte            // Input; nil means no input
	LabelSet    map[string]string // Labels
	TimeoutIn   time.Duration     // Timeout
	Mounts      [][2]string       // Volumes
	RW          []bool            // RW[i] mounts Mounts[i] read-write; missing: read-only
	Dir         string            // WorkDir
	MemoryLimit uint64            // Memory, bytes
	MilliCPUs   uint64            // CPUs
	Scratch     []string          // ScratchDirs

	stdout, stderr testproc.Buffer
	mu             sync.Mutex
	stats          []driver.Stat
	pulls          []driver.PullProgress
	closed         int
}

var (
	_ driver.ContainerTask = (*Task)(nil)
	_ driver.PullReporter  = (*Task)(nil)
	_ driver.VolumeMounts  = (*Task)(nil)
	_ driver.ScratchDirs   = (*Task)(nil)
)

// Limits NewTask gives a task: drivers apply no defaults, so every task
// carries its own.
const (
	DefaultMemory = 64 << 20 // bytes
	DefaultCPUs   = 1000     // milli-CPUs
)

// NewTask returns a task with a unique id running args (testee steps) in
// image, with DefaultMemory and DefaultCPUs.
func NewTask(image string, args ...string) *Task {
	return &Task{
		ID:          fmt.Sprintf("drivertest-%d-%d", time.Now().UnixNano(), taskSeq.Add(1)),
		Img:         image,
		Args:        args,
		MemoryLimit: DefaultMemory,
		MilliCPUs:   DefaultCPUs,
	}
}

// Command returns Args.
func (t *Task) Command() []string { return slices.Clone(t.Args) }

// EnvVars returns Env.
func (t *Task) EnvVars() map[string]string { return maps.Clone(t.Env) }

// Input returns a reader over Stdin, or nil when Stdin is nil.
func (t *Task) Input() io.Reader {
	if t.Stdin == nil {
		return nil
	}
	return bytes.NewReader(t.Stdin)
}

// Labels returns LabelSet.
func (t *Task) Labels() map[string]string { return maps.Clone(t.LabelSet) }

// Id returns ID.
func (t *Task) Id() string { return t.ID }

// Image returns Img.
func (t *Task) Image() string { return t.Img }

// Timeout returns TimeoutIn.
func (t *Task) Timeout() time.Duration { return t.TimeoutIn }

// Logger returns writers that collect stdout and stderr.
func (t *Task) Logger() (stdout, stderr io.Writer) { return &t.stdout, &t.stderr }

// WriteStat records s.
func (t *Task) WriteStat(s driver.Stat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats = append(t.stats, s)
}

// PullProgress records p.
func (t *Task) PullProgress(p driver.PullProgress) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pulls = append(t.pulls, p)
}

// Volumes returns Mounts.
func (t *Task) Volumes() [][2]string { return slices.Clone(t.Mounts) }

// VolumeMounts returns Mounts with their modes from RW.
func (t *Task) VolumeMounts() []driver.Mount {
	var m []driver.Mount
	for i, v := range t.Mounts {
		m = append(m, driver.Mount{Source: v[0], Target: v[1], ReadOnly: i >= len(t.RW) || !t.RW[i]})
	}
	return m
}

// ScratchDirs returns Scratch.
func (t *Task) ScratchDirs() []string { return slices.Clone(t.Scratch) }

// WorkDir returns Dir.
func (t *Task) WorkDir() string { return t.Dir }

// Memory returns MemoryLimit.
func (t *Task) Memory() uint64 { return t.MemoryLimit }

// CPUs returns MilliCPUs.
func (t *Task) CPUs() uint64 { return t.MilliCPUs }

// Close counts the call.
func (t *Task) Close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed++
}

// Stdout returns a copy of what the driver wrote to stdout so far.
func (t *Task) Stdout() []byte { return t.stdout.Bytes() }

// Stderr returns a copy of what the driver wrote to stderr so far.
func (t *Task) Stderr() []byte { return t.stderr.Bytes() }

// Stats returns the stats written so far.
func (t *Task) Stats() []driver.Stat {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.stats)
}

// Pulls returns the pull progress reported so far.
func (t *Task) Pulls() []driver.PullProgress {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.pulls)
}
