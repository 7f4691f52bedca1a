package worker

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// limits are a task's effective limits after the worker's defaults.
type limits struct {
	timeout time.Duration
	memory  uint64
}

// admit applies the worker's policy to a validated task: it returns the
// effective limits, or an error wrapping ErrRefused that says what to change.
func (c Config) admit(t *messages.Task) (limits, error) {
	p := c.Policy
	refuse := func(format string, a ...any) (limits, error) {
		return limits{}, fmt.Errorf("%w: "+format, append([]any{ErrRefused}, a...)...)
	}
	if !p.ImageAllowed(t.Image) {
		return refuse("image %q (%s) is not in the allowed images %q", t.Image, driver.NormalizeImage(t.Image), p.AllowedImages)
	}
	for _, v := range t.Volumes {
		if len(v) != 2 {
			return refuse("volume %q is not a [host path, container path] pair", v)
		}
		if !p.VolumeAllowed(v[0]) {
			if len(p.AllowedVolumeRoots) == 0 {
				return refuse("volume %q: this worker allows no host volumes", v[0])
			}
			return refuse("volume %q is not under an allowed root %q", filepath.Clean(v[0]), p.AllowedVolumeRoots)
		}
	}
	l := limits{timeout: t.Timeout(), memory: uint64(max(t.Memory, 0))}
	switch {
	case t.TimeoutMS < 0:
		return refuse("timeout_ms %d is negative", t.TimeoutMS)
	case l.timeout == 0:
		l.timeout = c.DefaultTimeout
	case c.MaxTimeout > 0 && l.timeout > c.MaxTimeout:
		return refuse("timeout %v is above this worker's maximum %v", l.timeout, c.MaxTimeout)
	}
	switch {
	case t.Memory < 0:
		return refuse("memory %d is negative", t.Memory)
	case l.memory == 0:
		l.memory = uint64(p.DefaultMemory)
	case l.memory > uint64(p.MaxMemory):
		return refuse("memory %s is above this worker's maximum %s", driver.Memory(l.memory), p.MaxMemory)
	}
	if t.CPUs < 0 {
		return refuse("cpus %d is negative", t.CPUs)
	}
	return l, nil
}
