package worker

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/driver"
)

// Policy is what this worker admits: the allow-lists, the maxima a task
// may ask for and the defaults of what it does not ask. It is applied once,
// at admission; the driver receives resolved limits. How containers run
// (network, user, read-only root, pids) is the driver's driver.Config.
type Policy struct {
	// Allow lists the images and host volumes tasks may use. Give the
	// driver the same list: it checks it again where containers are
	// created. Default: any image, no volume.
	Allow driver.AllowList
	// DefaultMemory applies to tasks that ask for none. Default 256 MiB.
	DefaultMemory driver.Memory
	// MaxMemory is the most a task may ask for. Default 4 GiB.
	MaxMemory driver.Memory
	// DefaultCPUs applies to tasks that ask for none, in milli-CPUs.
	// Default 1000 (one CPU).
	DefaultCPUs uint64
	// DefaultTimeout applies to tasks that ask for none. Default 1h.
	DefaultTimeout time.Duration
	// MaxTimeout is the most a task may ask for. Default 24h.
	MaxTimeout time.Duration
	// MaxInputBytes is the most bytes of artifacts a task may have placed
	// in its container (Task.Inputs and Task.InputObject together).
	// Default 1 GiB.
	MaxInputBytes int64
	// MaxOutputBytes is the most bytes of artifacts collected from a
	// task's outputs together; an output that would pass it is reported
	// over the cap, not stored. Default 1 GiB.
	MaxOutputBytes int64
}

// Policy defaults applied by WithDefaults.
const (
	DefaultMemory           driver.Memory = 256 << 20
	DefaultMaxMemory        driver.Memory = 4 << 30
	DefaultCPUs             uint64        = 1000
	DefaultTaskTimeout                    = time.Hour
	DefaultMaxTaskTimeout                 = 24 * time.Hour
	DefaultMaxArtifactBytes int64         = 1 << 30
)

// WithDefaults returns a copy of p with zero fields set to their defaults.
func (p Policy) WithDefaults() Policy {
	if p.DefaultMemory == 0 {
		p.DefaultMemory = DefaultMemory
	}
	if p.MaxMemory == 0 {
		p.MaxMemory = DefaultMaxMemory
	}
	if p.DefaultCPUs == 0 {
		p.DefaultCPUs = DefaultCPUs
	}
	if p.DefaultTimeout == 0 {
		p.DefaultTimeout = DefaultTaskTimeout
	}
	if p.MaxTimeout == 0 {
		p.MaxTimeout = DefaultMaxTaskTimeout
	}
	if p.MaxInputBytes == 0 {
		p.MaxInputBytes = DefaultMaxArtifactBytes
	}
	if p.MaxOutputBytes == 0 {
		p.MaxOutputBytes = DefaultMaxArtifactBytes
	}
	return p
}

// Validate reports the first setting that cannot work.
func (p Policy) Validate() error {
	switch {
	case p.DefaultMemory > p.MaxMemory:
		return fmt.Errorf("default memory %s is above max memory %s", p.DefaultMemory, p.MaxMemory)
	case p.DefaultTimeout < 0 || p.MaxTimeout < 0:
		return fmt.Errorf("timeouts must not be negative")
	case p.MaxInputBytes < 0 || p.MaxOutputBytes < 0:
		return fmt.Errorf("artifact limits must not be negative")
	case p.DefaultTimeout > p.MaxTimeout:
		return fmt.Errorf("default timeout %v is above max timeout %v", p.DefaultTimeout, p.MaxTimeout)
	}
	return p.Allow.Validate()
}
