package driver

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Config holds driver-wide settings. The zero value is not ready to use:
// call WithDefaults. Defaults are secure: no network, no host volumes.
type Config struct {
	// DockerHost is the runtime's address, e.g. "unix:///var/run/docker.sock".
	// Empty means the environment's default (DOCKER_HOST or the local socket).
	DockerHost string `json:"docker_host,omitempty"`
	// DefaultMemory applies to tasks that ask for none. Default 256 MiB.
	DefaultMemory Memory `json:"default_memory,omitempty"`
	// MaxMemory is the most a task may ask for. Default 4 GiB.
	MaxMemory Memory `json:"max_memory,omitempty"`
	// DefaultCPUs applies to tasks that ask for none, in milli-CPUs.
	// Default 1000 (one CPU).
	DefaultCPUs uint64 `json:"default_cpus,omitempty"`
	// PidsLimit caps processes per container. Default 256.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// NetworkMode is the container network. Default "none".
	NetworkMode string `json:"network_mode,omitempty"`
	// ReadOnlyRootfs mounts the image read-only with a tmpfs at /tmp.
	ReadOnlyRootfs bool `json:"read_only_rootfs,omitempty"`
	// User runs the container's process as this user ("uid[:gid]" or a
	// name). Empty means the image's user.
	User string `json:"user,omitempty"`
	// AllowedVolumeRoots lists host directories under which tasks may mount
	// volumes. Default: none, so any task with a volume is refused.
	AllowedVolumeRoots []string `json:"allowed_volume_roots,omitempty"`
	// AllowedImages lists path.Match patterns an image reference must
	// match after normalisation to its full name, e.g. "busybox" is matched
	// as "docker.io/library/busybox:latest". "*" does not cross a "/", so
	// "registry.example.com/team/*" allows every image of that namespace and
	// "docker.io/library/busybox:*" every tag of busybox. Default: any
	// image.
	AllowedImages []string `json:"allowed_images,omitempty"`
}

// Default values applied by WithDefaults.
const (
	DefaultMemory      Memory = 256 << 20
	DefaultMaxMemory   Memory = 4 << 30
	DefaultCPUs        uint64 = 1000
	DefaultPidsLimit   int64  = 256
	DefaultNetworkMode        = "none"
)

// WithDefaults returns a copy of c with zero fields set to their defaults
// (see the Default constants). ReadOnlyRootfs, User, AllowedVolumeRoots and
// AllowedImages have no default beyond their zero value.
func (c Config) WithDefaults() Config {
	if c.DefaultMemory == 0 {
		c.DefaultMemory = DefaultMemory
	}
	if c.MaxMemory == 0 {
		c.MaxMemory = DefaultMaxMemory
	}
	if c.DefaultCPUs == 0 {
		c.DefaultCPUs = DefaultCPUs
	}
	if c.PidsLimit == 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	if c.NetworkMode == "" {
		c.NetworkMode = DefaultNetworkMode
	}
	return c
}

// Validate reports the first setting that cannot work, as an error wrapping
// ErrInvalidConfig that names the setting. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	if c.DefaultMemory > c.MaxMemory && c.MaxMemory != 0 {
		return fmt.Errorf("%w: default_memory %s is above max_memory %s", ErrInvalidConfig, c.DefaultMemory, c.MaxMemory)
	}
	if c.NetworkMode == "" {
		return fmt.Errorf("%w: network_mode is empty", ErrInvalidConfig)
	}
	if c.PidsLimit < 0 {
		return fmt.Errorf("%w: pids_limit %d is negative", ErrInvalidConfig, c.PidsLimit)
	}
	for _, root := range c.AllowedVolumeRoots {
		if !filepath.IsAbs(root) {
			return fmt.Errorf("%w: allowed_volume_roots: %q is not an absolute path", ErrInvalidConfig, root)
		}
	}
	for _, p := range c.AllowedImages {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: allowed_images: bad pattern %q: %v", ErrInvalidConfig, p, err)
		}
	}
	return nil
}

// VolumeAllowed reports whether hostPath is absolute and lies under one of
// the allowed volume roots (none by default). Paths are compared after
// cleaning, so "/data/../etc" is not under "/data", and "/database" is not
// under "/data". Symbolic links are not resolved: an allowed root must not
// contain links that lead out of it.
func (c Config) VolumeAllowed(hostPath string) bool {
	if !filepath.IsAbs(hostPath) {
		return false
	}
	p := filepath.Clean(hostPath)
	for _, root := range c.AllowedVolumeRoots {
		r := filepath.Clean(root)
		if p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// ImageAllowed reports whether image is a valid reference that matches the
// allow-list (any valid reference when the list is empty). The image is
// normalised first, so "busybox" is matched as
// "docker.io/library/busybox:latest". An invalid reference is never allowed.
func (c Config) ImageAllowed(image string) bool {
	if ValidImage(image) != nil {
		return false
	}
	if len(c.AllowedImages) == 0 {
		return true
	}
	full := NormalizeImage(image)
	for _, p := range c.AllowedImages {
		if ok, _ := path.Match(p, full); ok {
			return true
		}
	}
	return false
}
