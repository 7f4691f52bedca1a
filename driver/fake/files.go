package fake

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jetrun/jetrun/driver"
)

var _ driver.Files = (*cookie)(nil)

// memFS is a "container's" file system: absolute clean paths to nodes.
// It serves the testee's file steps and the cookie's CopyIn and CopyOut.
type memFS struct {
	mu    sync.Mutex
	nodes map[string]*node
}

type node struct {
	kind byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode int64
	data []byte
	link string
}

// newMemFS returns a file system with / and /tmp, and dirs.
func newMemFS(dirs []string) *memFS {
	m := &memFS{nodes: map[string]*node{"/": {kind: tar.TypeDir, mode: 0o755}, "/tmp": {kind: tar.TypeDir, mode: 0o1777}}}
	for _, d := range dirs {
		_ = m.MkdirAll(d)
	}
	return m
}

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// parentOK reports why name's parent cannot hold an entry, or nil. The
// caller holds mu.
func (m *memFS) parentOK(op, name string) error {
	p, ok := m.nodes[path.Dir(name)]
	switch {
	case !ok:
		return pathErr(op, name, fs.ErrNotExist)
	case p.kind != tar.TypeDir:
		return pathErr(op, name, fmt.Errorf("%s is not a directory", path.Dir(name)))
	}
	return nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[path.Clean(name)]
	switch {
	case !ok:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case n.kind != tar.TypeReg:
		return nil, pathErr("read", name, fmt.Errorf("not a regular file"))
	}
	return slices.Clone(n.data), nil
}

func (m *memFS) WriteFile(name string, data []byte) error {
	name = path.Clean(name)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.parentOK("open", name); err != nil {
		return err
	}
	if n, ok := m.nodes[name]; ok && n.kind != tar.TypeReg {
		return pathErr("open", name, fmt.Errorf("not a regular file"))
	}
	m.nodes[name] = &node{kind: tar.TypeReg, mode: 0o644, data: slices.Clone(data)}
	return nil
}

func (m *memFS) Symlink(target, link string) error {
	link = path.Clean(link)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.parentOK("symlink", link); err != nil {
		return err
	}
	if _, ok := m.nodes[link]; ok {
		return pathErr("symlink", link, fs.ErrExist)
	}
	m.nodes[link] = &node{kind: tar.TypeSymlink, mode: 0o777, link: target}
	return nil
}

func (m *memFS) MkdirAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.mkdirAll(path.Clean(name), 0o755)
}

// mkdirAll is MkdirAll with mu held.
func (m *memFS) mkdirAll(name string, mode int64) error {
	if n, ok := m.nodes[name]; ok {
		if n.kind != tar.TypeDir {
			return pathErr("mkdir", name, fmt.Errorf("not a directory"))
		}
		return nil
	}
	if err := m.mkdirAll(path.Dir(name), 0o755); err != nil {
		return err
	}
	m.nodes[name] = &node{kind: tar.TypeDir, mode: mode}
	return nil
}

// CopyIn extracts r under dir: see driver.Files. The fake keeps modes and
// refuses what ReadArchive refuses.
func (c *cookie) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	if !path.IsAbs(dir) {
		return driver.UserError(driver.Permanent(fmt.Errorf("fake: copy into %q: not an absolute path", dir)))
	}
	dir = path.Clean(dir)
	m := c.fs
	m.mu.Lock()
	err := m.mkdirAll(dir, 0o755)
	m.mu.Unlock()
	if err != nil {
		return driver.UserError(driver.Permanent(fmt.Errorf("fake: copy into %s: %w", dir, err)))
	}
	err = driver.ReadArchive(r, func(h *tar.Header, body io.Reader) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := path.Join(dir, h.Name)
		var n node
		switch h.Typeflag {
		case tar.TypeDir:
			m.mu.Lock()
			err := m.mkdirAll(name, h.Mode&0o777)
			if err == nil {
				m.nodes[name].mode = h.Mode & 0o777
			}
			m.mu.Unlock()
			return err
		case tar.TypeSymlink:
			n = node{kind: tar.TypeSymlink, mode: 0o777, link: h.Linkname}
		default:
			data, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			n = node{kind: tar.TypeReg, mode: h.Mode & 0o777, data: data}
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if err := m.parentOK("copy", name); err != nil {
			return driver.UserError(driver.Permanent(err))
		}
		if old, ok := m.nodes[name]; ok && old.kind == tar.TypeDir {
			return driver.UserError(driver.Permanent(pathErr("copy", name, fmt.Errorf("is a directory"))))
		}
		m.nodes[name] = &n
		return nil
	})
	if err != nil {
		return fmt.Errorf("fake: copy into %s: %w", dir, err)
	}
	return nil
}

// CopyOut archives p: see driver.Files.
func (c *cookie) CopyOut(ctx context.Context, p string) (io.ReadCloser, error) {
	if !path.IsAbs(p) {
		return nil, driver.UserError(driver.Permanent(fmt.Errorf("fake: copy out %q: not an absolute path", p)))
	}
	p = path.Clean(p)
	m := c.fs
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[p]; !ok {
		return nil, fmt.Errorf("fake: copy out %s: %w", p, driver.ErrNotExist)
	}
	var names []string
	for name := range m.nodes {
		if name == p || strings.HasPrefix(name, p+"/") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	base := path.Base(p)
	for _, name := range names {
		n := m.nodes[name]
		h := &tar.Header{Typeflag: n.kind, Name: base + strings.TrimPrefix(name, p), Mode: n.mode, Linkname: n.link, ModTime: time.Unix(0, 0), Format: tar.FormatPAX}
		if n.kind == tar.TypeDir {
			h.Name += "/"
		}
		if n.kind == tar.TypeReg {
			h.Size = int64(len(n.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(n.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}
