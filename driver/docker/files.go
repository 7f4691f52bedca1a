package docker

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"

	"github.com/jetrun/jetrun/driver"
)

var _ driver.Files = (*cookie)(nil)

// errCopyAborted ends the archive writer of a CopyIn the daemon stopped
// reading.
var errCopyAborted = errors.New("copy aborted by the daemon")

// scratchMounts are the task's scratch directories as anonymous volumes,
// removed with the container.
func scratchMounts(task driver.ContainerTask) ([]mount.Mount, error) {
	var mounts []mount.Mount
	for _, d := range driver.TaskScratchDirs(task) {
		if !path.IsAbs(d) || path.Clean(d) == "/" {
			return nil, fmt.Errorf("scratch directory %q is not an absolute path below /", d)
		}
		mounts = append(mounts, mount.Mount{Type: mount.TypeVolume, Target: path.Clean(d)})
	}
	return mounts, nil
}

// owner is the numeric user and group a container runs as, when the
// driver's User setting tells it.
type owner struct {
	uid, gid int
	known    bool
}

// parseOwner reads "uid[:gid]"; a name, or the image's user, is unknown.
func parseOwner(user string) owner {
	u, g, hasGroup := strings.Cut(user, ":")
	uid, err := strconv.Atoi(u)
	if err != nil || uid < 0 {
		return owner{}
	}
	gid := 0
	if hasGroup {
		if gid, err = strconv.Atoi(g); err != nil || gid < 0 {
			return owner{}
		}
	}
	return owner{uid: uid, gid: gid, known: true}
}

// CopyIn extracts r under dir in the container: see driver.Files. The
// archive is rewritten on its way (checked by driver.ReadArchive, owned by
// the container's user, no extended attributes) and streamed to the
// daemon, into the deepest existing directory of dir with the missing
// ones created first.
func (c *cookie) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	if !path.IsAbs(dir) {
		return driver.UserError(driver.Permanent(fmt.Errorf("copy into %q: not an absolute path", dir)))
	}
	dir = path.Clean(dir)
	base, missing, err := c.existingDir(ctx, dir)
	if err != nil {
		return err
	}
	if c.d.cfg.ReadOnlyRootfs && !c.writable(base) {
		// The daemon would refuse it, as an unclassified error.
		return driver.UserError(driver.Permanent(fmt.Errorf("copy into %s: the container's root file system is read-only: only scratch directories %q and read-write volumes take files", dir, driver.TaskScratchDirs(c.task))))
	}
	pr, pw := io.Pipe()
	wrote := make(chan error, 1)
	go func() {
		err := rewriteArchive(pw, r, missing, parseOwner(c.d.cfg.ContainerUser()))
		pw.CloseWithError(err)
		wrote <- err
	}()
	err = c.d.cli.CopyToContainer(ctx, c.id, base, pr, container.CopyToContainerOptions{})
	pr.CloseWithError(errCopyAborted)
	if werr := <-wrote; werr != nil && !errors.Is(werr, errCopyAborted) {
		return fmt.Errorf("copy into %s: %w", dir, werr)
	}
	if err != nil {
		if cerrdefs.IsInvalidArgument(err) || cerrdefs.IsPermissionDenied(err) || cerrdefs.IsConflict(err) {
			return driver.UserError(driver.Permanent(fmt.Errorf("copy into %s: %w", dir, err)))
		}
		return classify(fmt.Errorf("copy into %s: %w", dir, err))
	}
	return nil
}

// writable reports whether dir lies in a scratch directory or a
// read-write volume of the task.
func (c *cookie) writable(dir string) bool {
	under := func(root string) bool {
		root = path.Clean(root)
		return dir == root || strings.HasPrefix(dir, root+"/")
	}
	for _, d := range driver.TaskScratchDirs(c.task) {
		if under(d) {
			return true
		}
	}
	for _, m := range driver.TaskMounts(c.task) {
		if !m.ReadOnly && under(m.Target) {
			return true
		}
	}
	return false
}

// existingDir returns the deepest directory of dir that exists in the
// container and the names, from it down, of the ones that do not.
func (c *cookie) existingDir(ctx context.Context, dir string) (string, []string, error) {
	var missing []string
	for p := dir; ; p = path.Dir(p) {
		st, err := c.d.cli.ContainerStatPath(ctx, c.id, p)
		switch {
		case err == nil && (st.Mode.IsDir() || st.Mode&fs.ModeSymlink != 0):
			return p, missing, nil
		case err == nil:
			return "", nil, driver.UserError(driver.Permanent(fmt.Errorf("copy into %s: %s is not a directory in the container", dir, p)))
		case !cerrdefs.IsNotFound(err):
			return "", nil, classify(fmt.Errorf("copy into %s: stat %s: %w", dir, p, err))
		case p == "/":
			return "", nil, classify(fmt.Errorf("copy into %s: the container has no root directory", dir))
		}
		missing = append([]string{path.Base(p)}, missing...)
	}
}

// rewriteArchive writes to w a directory entry for each of missing (each
// inside the one before), then every entry of r below them, owned by o
// with its permission bits only and no extended attributes.
func rewriteArchive(w io.Writer, r io.Reader, missing []string, o owner) error {
	tw := tar.NewWriter(w)
	prefix := path.Join(missing...)
	own := func(h *tar.Header) *tar.Header {
		mode := h.Mode & 0o777
		if h.Typeflag == tar.TypeDir && !o.known {
			mode = 0o1777
		}
		return &tar.Header{
			Typeflag: h.Typeflag, Name: h.Name, Linkname: h.Linkname, Size: h.Size,
			Mode: mode, Uid: o.uid, Gid: o.gid, ModTime: h.ModTime, Format: tar.FormatPAX,
		}
	}
	for i := range missing {
		name := path.Join(missing[:i+1]...) + "/"
		if err := tw.WriteHeader(own(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755})); err != nil {
			return err
		}
	}
	err := driver.ReadArchive(r, func(h *tar.Header, body io.Reader) error {
		if h.Name == "." && prefix == "" {
			return nil // the existing directory itself
		}
		h.Name = path.Join(prefix, h.Name)
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if err := tw.WriteHeader(own(h)); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, body); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// CopyOut returns the daemon's archive of p in the stopped container: see
// driver.Files. The daemon archives a link as a link and resolves p's
// parents inside the container.
func (c *cookie) CopyOut(ctx context.Context, p string) (io.ReadCloser, error) {
	if !path.IsAbs(p) {
		return nil, driver.UserError(driver.Permanent(fmt.Errorf("copy out %q: not an absolute path", p)))
	}
	rc, _, err := c.d.cli.CopyFromContainer(ctx, c.id, path.Clean(p))
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return nil, fmt.Errorf("copy out %s: %w", p, driver.ErrNotExist)
		}
		return nil, classify(fmt.Errorf("copy out %s: %w", p, err))
	}
	return rc, nil
}
