package worker

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/go-units"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// Labels the worker sets on every container (keys under "jetrun." are
// reserved to it).
const (
	LabelTask    = "jetrun.task"
	LabelWorker  = "jetrun.worker"
	LabelAttempt = "jetrun.attempt"
)

// containerTask adapts a validated messages.Task, with the worker's
// defaults applied, to driver.ContainerTask and driver.PullReporter.
type containerTask struct {
	t       *messages.Task
	timeout time.Duration
	memory  uint64
	labels  map[string]string
	out     *output
	ev      *events

	pullMu     sync.Mutex
	pullStart  time.Time
	lastPull   time.Time
	pullEvents int
}

var (
	_ driver.ContainerTask = (*containerTask)(nil)
	_ driver.PullReporter  = (*containerTask)(nil)
)

func (c *containerTask) Command() []string          { return c.t.Cmd }
func (c *containerTask) EnvVars() map[string]string { return c.t.Env }
func (c *containerTask) Labels() map[string]string  { return c.labels }
func (c *containerTask) Id() string                 { return c.t.ID }
func (c *containerTask) Image() string              { return c.t.Image }
func (c *containerTask) Timeout() time.Duration     { return c.timeout }
func (c *containerTask) WorkDir() string            { return c.t.Workdir }
func (c *containerTask) Memory() uint64             { return c.memory }
func (c *containerTask) CPUs() uint64               { return uint64(max(c.t.CPUs, 0)) }
func (c *containerTask) Close()                     {}
func (c *containerTask) WriteStat(s driver.Stat)    { c.out.writeStat(s) }

func (c *containerTask) Input() io.Reader {
	if c.t.Input == nil {
		return nil
	}
	return bytes.NewReader(c.t.Input)
}

func (c *containerTask) Logger() (stdout, stderr io.Writer) {
	return streamWriter{c.out, messages.StreamStdout}, streamWriter{c.out, messages.StreamStderr}
}

func (c *containerTask) Volumes() [][2]string {
	var v [][2]string
	for _, p := range c.t.Volumes {
		v = append(v, [2]string{p[0], p[1]})
	}
	return v
}

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
