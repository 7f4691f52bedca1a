package driver

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/jetrun/jetrun/imageref"
)

// Config holds a driver's runtime settings: how every container runs,
// whatever the task asks. Task limits (memory, CPUs, timeout) are not here:
// they arrive resolved with each task. The zero value is not ready to use:
// call WithDefaults. Defaults are secure: no network, a non-root user, a
// private cgroup namespace.
type Config struct {
	// DockerHost is the runtime's address, e.g. "unix:///var/run/docker.sock".
	// Empty means the environment's default (DOCKER_HOST or the local socket).
	DockerHost string `json:"docker_host,omitempty"`
	// PidsLimit caps processes per container. Default 256.
	PidsLimit int64 `json:"pids_limit,omitempty"`
	// NetworkMode is the container network. Default "none".
	NetworkMode string `json:"network_mode,omitempty"`
	// ReadOnlyRootfs mounts the image read-only with a tmpfs at /tmp.
	ReadOnlyRootfs bool `json:"read_only_rootfs,omitempty"`
	// TmpfsSize is the size of the tmpfs /tmp of a read-only root.
	// Default 64 MiB.
	TmpfsSize Memory `json:"tmpfs_size,omitempty"`
	// User runs the container's process as this user: "uid[:gid]" or a
	// name the image defines, or UserImage for the image's own user (root
	// unless the image says otherwise). Default DefaultUser.
	User string `json:"user,omitempty"`
	// CgroupNamespace is the container's cgroup namespace: "private" (it
	// sees only its own cgroup) or "host". Default "private".
	CgroupNamespace string `json:"cgroup_namespace,omitempty"`
	// DiskLimit caps the size of each container's writable layer, in
	// bytes; 0 leaves it unbounded. Only storage drivers with a quota
	// support it (Docker's overlay2 on xfs mounted with pquota, btrfs, zfs,
	// devicemapper); a runtime without one refuses the setting.
	DiskLimit Memory `json:"disk_limit,omitempty"`
}

// Default values applied by WithDefaults.
const (
	DefaultPidsLimit       int64  = 256
	DefaultNetworkMode            = "none"
	DefaultTmpfsSize       Memory = 64 << 20
	DefaultUser                   = "65534:65534" // nobody:nogroup
	DefaultCgroupNamespace        = "private"
)

// UserImage is the User that keeps the image's own user.
const UserImage = "image"

// WithDefaults returns a copy of c with zero fields set to their defaults
// (see the Default constants). DockerHost, ReadOnlyRootfs and DiskLimit
// have no default beyond their zero value.
func (c Config) WithDefaults() Config {
	if c.PidsLimit == 0 {
		c.PidsLimit = DefaultPidsLimit
	}
	if c.NetworkMode == "" {
		c.NetworkMode = DefaultNetworkMode
	}
	if c.TmpfsSize == 0 {
		c.TmpfsSize = DefaultTmpfsSize
	}
	if c.User == "" {
		c.User = DefaultUser
	}
	if c.CgroupNamespace == "" {
		c.CgroupNamespace = DefaultCgroupNamespace
	}
	return c
}

// ContainerUser is the user a container runs as: "" for the image's own
// (User is UserImage), else User.
func (c Config) ContainerUser() string {
	if c.User == UserImage {
		return ""
	}
	return c.User
}

// Validate reports the first setting that cannot work, as an error wrapping
// ErrInvalidConfig that names the setting. Call it on the result of
// WithDefaults.
func (c Config) Validate() error {
	if c.NetworkMode == "" {
		return fmt.Errorf("%w: network_mode is empty", ErrInvalidConfig)
	}
	if c.PidsLimit <= 0 {
		return fmt.Errorf("%w: pids_limit %d is not positive", ErrInvalidConfig, c.PidsLimit)
	}
	if c.User == "" {
		return fmt.Errorf("%w: user is empty (want uid[:gid], a name, or %q for the image's user)", ErrInvalidConfig, UserImage)
	}
	if c.CgroupNamespace != "private" && c.CgroupNamespace != "host" {
		return fmt.Errorf("%w: cgroup_namespace %q: want private or host", ErrInvalidConfig, c.CgroupNamespace)
	}
	if c.ReadOnlyRootfs && c.TmpfsSize < 1<<20 {
		return fmt.Errorf("%w: tmpfs_size %s is below 1 MiB", ErrInvalidConfig, c.TmpfsSize)
	}
	return nil
}

// AllowList says which images and host volumes tasks may use. The worker
// admits tasks against it, and a driver given one checks it again where the
// container is created. The zero value allows any image and no volume.
type AllowList struct {
	// VolumeRoots lists host directories under which tasks may mount
	// volumes. Default: none, so any task with a volume is refused.
	VolumeRoots []string `json:"allowed_volume_roots,omitempty"`
	// Images lists path.Match patterns an image reference must match after
	// normalisation to its full name, e.g. "busybox" is matched as
	// "docker.io/library/busybox:latest". "*" does not cross a "/", so
	// "registry.example.com/team/*" allows every image of that namespace
	// and "docker.io/library/busybox:*" every tag of busybox. A reference
	// written as an image id ("e8d5cdf7", "sha256:e8d5...", see
	// imageref.LooksLikeID) names no repository: only patterns starting
	// "sha256:" match it, as "sha256:<hex as written>", so "sha256:*"
	// allows every id. Default: any image, ids included.
	Images []string `json:"allowed_images,omitempty"`
}

// Validate reports the first entry that cannot work, as an error wrapping
// ErrInvalidConfig.
func (a AllowList) Validate() error {
	for _, root := range a.VolumeRoots {
		if !filepath.IsAbs(root) {
			return fmt.Errorf("%w: allowed_volume_roots: %q is not an absolute path", ErrInvalidConfig, root)
		}
	}
	for _, p := range a.Images {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%w: allowed_images: bad pattern %q: %v", ErrInvalidConfig, p, err)
		}
	}
	return nil
}

// VolumeAllowed reports whether hostPath is absolute and lies under one of
// the allowed volume roots (none by default), lexically: paths are compared
// after cleaning, so "/data/../etc" is not under "/data", and "/database"
// is not under "/data". Symbolic links are not resolved: a path is
// mounted only after ResolveVolume, which resolves them.
func (a AllowList) VolumeAllowed(hostPath string) bool {
	if !filepath.IsAbs(hostPath) {
		return false
	}
	return under(filepath.Clean(hostPath), a.VolumeRoots)
}

// ResolveVolume returns the real path of hostPath (every symbolic link
// resolved, as the runtime will follow them when it mounts it), or an
// error wrapping ErrVolumeNotAllowed when hostPath is not absolute, does
// not exist, or when it or its real path lies under none of the roots'
// own real paths. A link inside a root that leads out of it is refused.
func (a AllowList) ResolveVolume(hostPath string) (string, error) {
	if !filepath.IsAbs(hostPath) {
		return "", fmt.Errorf("%w: %q is not an absolute path", ErrVolumeNotAllowed, hostPath)
	}
	if len(a.VolumeRoots) == 0 {
		return "", fmt.Errorf("%w: %q: no host volumes are allowed", ErrVolumeNotAllowed, hostPath)
	}
	if !a.VolumeAllowed(hostPath) {
		return "", fmt.Errorf("%w: %q is not under an allowed root %q", ErrVolumeNotAllowed, filepath.Clean(hostPath), a.VolumeRoots)
	}
	real, err := filepath.EvalSymlinks(hostPath)
	if err != nil {
		return "", fmt.Errorf("%w: %q cannot be resolved: %v", ErrVolumeNotAllowed, hostPath, err)
	}
	var roots []string
	for _, root := range a.VolumeRoots {
		if r, err := filepath.EvalSymlinks(root); err == nil {
			roots = append(roots, r)
		}
	}
	if !under(real, roots) {
		return "", fmt.Errorf("%w: %q resolves to %q, outside the allowed roots %q", ErrVolumeNotAllowed, hostPath, real, a.VolumeRoots)
	}
	return real, nil
}

// under reports whether the clean path p is one of roots or below one.
func under(p string, roots []string) bool {
	for _, root := range roots {
		r := filepath.Clean(root)
		if p == r || strings.HasPrefix(p, strings.TrimSuffix(r, "/")+"/") {
			return true
		}
	}
	return false
}

// ImageAllowed reports whether image, a parsed reference, matches the
// allow-list (any valid reference when the list is empty). An image id is
// matched only by the id patterns (those starting "sha256:"), a name only
// by the others. A zero Ref is never allowed.
func (a AllowList) ImageAllowed(image imageref.Ref) bool {
	if !image.Valid() {
		return false
	}
	if len(a.Images) == 0 {
		return true
	}
	if image.IsID() {
		return a.idAllowed(image.ID())
	}
	return a.nameAllowed(image.String())
}

// ResolvedImageAllowed reports whether the image a runtime resolved a
// reference to may run: the list is empty, or its full id ("sha256:...")
// matches an id pattern, or one of its names (repository tags and digests,
// as the runtime lists them) matches a name pattern after normalisation.
func (a AllowList) ResolvedImageAllowed(id string, names []string) bool {
	if len(a.Images) == 0 {
		return true
	}
	if strings.HasPrefix(id, imageref.IDPrefix) && a.idAllowed(id) {
		return true
	}
	for _, n := range names {
		r, err := imageref.Parse(n)
		if err == nil && !r.IsID() && a.nameAllowed(r.String()) {
			return true
		}
	}
	return false
}

func (a AllowList) idAllowed(id string) bool {
	for _, p := range a.Images {
		if !strings.HasPrefix(p, imageref.IDPrefix) {
			continue
		}
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

func (a AllowList) nameAllowed(full string) bool {
	for _, p := range a.Images {
		if strings.HasPrefix(p, imageref.IDPrefix) {
			continue
		}
		if ok, _ := path.Match(p, full); ok {
			return true
		}
	}
	return false
}
