package worker

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/docker/go-units"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/imageref"
	"github.com/jetrun/jetrun/messages"
)

// LabelAttempt is the container label the worker sets to the task's run
// (its attempt, counted in JETRUN_RUNS); the driver sets the task and worker labels (jetrun.task,
// jetrun.worker). Keys under "jetrun." are reserved to jetrun.
const LabelAttempt = "jetrun.attempt"

// containerTask adapts an admitted task to driver.ContainerTask,
// driver.ParsedImage, driver.VolumeMounts and driver.PullReporter.
type containerTask struct {
	a   *admitted
	out *output
	ev  *events

	inputs []*jetstream.ObjectInfo // of a.task.Inputs, looked up before Prepare
	stdin  *objectStdin            // a.task.InputObject, nil without

	pullMu     sync.Mutex
	pullStart  time.Time
	lastPull   time.Time
	pullEvents int
}

var (
	_ driver.ContainerTask = (*containerTask)(nil)
	_ driver.ParsedImage   = (*containerTask)(nil)
	_ driver.PullReporter  = (*containerTask)(nil)
	_ driver.VolumeMounts  = (*containerTask)(nil)
	_ driver.ScratchDirs   = (*containerTask)(nil)
)

func (c *containerTask) Command() []string          { return c.a.task.Cmd }
func (c *containerTask) EnvVars() map[string]string { return c.a.task.Env }
func (c *containerTask) Labels() map[string]string  { return c.a.labels }
func (c *containerTask) Id() string                 { return c.a.task.ID }
func (c *containerTask) Image() string              { return c.a.task.Image }
func (c *containerTask) ParsedImage() imageref.Ref  { return c.a.image }
func (c *containerTask) Timeout() time.Duration     { return c.a.timeout }
func (c *containerTask) WorkDir() string            { return c.a.task.Workdir }
func (c *containerTask) Memory() uint64             { return c.a.memory }
func (c *containerTask) CPUs() uint64               { return c.a.cpus }
func (c *containerTask) Close()                     {}
func (c *containerTask) WriteStat(s driver.Stat)    { c.out.writeStat(s) }

// ScratchDirs is messages.ArtifactsDir for a task with artifacts.
func (c *containerTask) ScratchDirs() []string { return scratchDirs(c.a.task) }

func (c *containerTask) Input() io.Reader {
	if c.stdin != nil {
		return c.stdin
	}
	if c.a.task.Input == nil {
		return nil
	}
	return bytes.NewReader(c.a.task.Input)
}

func (c *containerTask) Logger() (stdout, stderr io.Writer) {
	return streamWriter{c.out, messages.StreamStdout}, streamWriter{c.out, messages.StreamStderr}
}

// Volumes returns the task's volumes with their host paths resolved at
// admission.
func (c *containerTask) Volumes() [][2]string {
	var v [][2]string
	for _, m := range c.a.mounts {
		v = append(v, [2]string{m.Source, m.Target})
	}
	return v
}

// VolumeMounts returns Volumes with their modes: read-only unless the
// task asked for "rw".
func (c *containerTask) VolumeMounts() []driver.Mount { return slices.Clone(c.a.mounts) }

// PullProgress publishes a "pulling" status: the first report at once,
// then at most one a second, and the last (Done == Total) always.
func (c *containerTask) PullProgress(p driver.PullProgress) {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	now := time.Now()
	if c.pullStart.IsZero() {
		c.pullStart = now
	}
	done := p.Total > 0 && p.Done >= p.Total
	if c.pullEvents > 0 && now.Sub(c.lastPull) < time.Second && !done {
		return
	}
	c.lastPull = now
	c.pullEvents++
	detail := fmt.Sprintf("pulling %s: %s", p.Image, units.BytesSize(float64(p.Done)))
	if p.Total > 0 {
		detail += " / " + units.BytesSize(float64(p.Total))
	}
	c.ev.status(messages.StatePulling, detail)
}

// pulled returns how long the image download took, 0 when there was none.
func (c *containerTask) pulled() time.Duration {
	c.pullMu.Lock()
	defer c.pullMu.Unlock()
	if c.pullStart.IsZero() {
		return 0
	}
	return time.Since(c.pullStart)
}
