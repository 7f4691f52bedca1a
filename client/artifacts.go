package client

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/objget"
	"github.com/jetrun/jetrun/internal/objput"
	"github.com/jetrun/jetrun/messages"
)

// ErrNoArtifactsBucket means the JETRUN_ARTIFACTS object store does not
// exist: provision it (worker --provision) or start a worker with its
// embedded server.
var ErrNoArtifactsBucket = errors.New("no artifacts bucket " + messages.ArtifactsBucket)

// ErrArtifactDigest means a downloaded artifact does not have the SHA-256
// its result lists: the object was replaced or corrupted.
var ErrArtifactDigest = errors.New("artifact does not match the SHA-256 of its result")

func (c *Client) objects(ctx context.Context) (jetstream.ObjectStore, error) {
	obs, err := c.js.ObjectStore(ctx, messages.ArtifactsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("%w: is a worker running? (it is created by worker --provision, or by a worker with its embedded server)", ErrNoArtifactsBucket)
	}
	if err != nil {
		return nil, fmt.Errorf("artifacts bucket: %w", err)
	}
	return obs, nil
}

// InputName is the object name for input number i of task id, from a
// local file name: messages.InputObject(id, "<i>-<name>"), name reduced to
// the characters object names allow.
func InputName(id string, i int, name string) string {
	var b strings.Builder
	b.WriteString(strconv.Itoa(i))
	b.WriteByte('-')
	for _, r := range name {
		if b.Len() >= messages.MaxObjectSuffixLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return messages.InputObject(id, b.String())
}

// Upload streams r into the artifacts bucket as object name (under
// messages.InputObjectPrefix of its task) and returns its size and
// SHA-256 in hex. r is read once, never held whole in memory.
func (c *Client) Upload(ctx context.Context, name string, r io.Reader) (size int64, sha string, err error) {
	obs, err := c.objects(ctx)
	if err != nil {
		return 0, "", err
	}
	h := sha256.New()
	info, err := objput.Put(ctx, c.js, obs, messages.ArtifactsBucket, jetstream.ObjectMeta{Name: name}, io.TeeReader(r, h))
	if err != nil {
		return 0, "", fmt.Errorf("upload %s: %w", name, err)
	}
	return int64(info.Size), hex.EncodeToString(h.Sum(nil)), nil
}

// UploadInput uploads r as input number i of task id, to be placed at the
// absolute container path, and returns the task's Input for it (a file
// with mode, 0 meaning 0644, and its SHA-256, which the worker checks).
func (c *Client) UploadInput(ctx context.Context, id string, i int, containerPath string, mode fs.FileMode, r io.Reader) (messages.Input, error) {
	name := InputName(id, i, path.Base(containerPath))
	_, sum, err := c.Upload(ctx, name, r)
	if err != nil {
		return messages.Input{}, err
	}
	return messages.Input{Path: containerPath, Object: name, Kind: messages.KindFile, Mode: uint32(mode.Perm()), SHA256: sum}, nil
}

// UploadPath uploads the local file or directory local as input number i
// of task id, placed at containerPath: a file as it is, a directory as a
// tar archive of its files, directories and symbolic links (links stored
// as links; other kinds skipped), streamed.
func (c *Client) UploadPath(ctx context.Context, id string, i int, local, containerPath string) (messages.Input, error) {
	st, err := os.Stat(local)
	if err != nil {
		return messages.Input{}, fmt.Errorf("upload: %w", err)
	}
	if !st.IsDir() {
		f, err := os.Open(local)
		if err != nil {
			return messages.Input{}, fmt.Errorf("upload: %w", err)
		}
		defer f.Close()
		return c.UploadInput(ctx, id, i, containerPath, st.Mode(), f)
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarDir(pw, local)) }()
	defer pr.Close()
	name := InputName(id, i, path.Base(containerPath))
	_, sum, err := c.Upload(ctx, name, pr)
	if err != nil {
		return messages.Input{}, fmt.Errorf("upload %s: %w", local, err)
	}
	return messages.Input{Path: containerPath, Object: name, Kind: messages.KindDir, SHA256: sum}, nil
}

// tarDir writes a tar archive of dir to w: names relative to it, its root
// "./".
func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(p); err != nil {
				return err
			}
		case !info.Mode().IsRegular() && !info.IsDir():
			return nil
		}
		h, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		h.Name = filepath.ToSlash(rel)
		if info.IsDir() {
			h.Name += "/"
		}
		h.Uid, h.Gid, h.Uname, h.Gname, h.Format = 0, 0, "", "", tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// OpenArtifact streams artifact a of a result: a file's bytes, or a
// directory's tar archive. Reading to the end checks the SHA-256 the
// result lists; a mismatch is ErrArtifactDigest. A link, missing or over
// the cap has no object.
func (c *Client) OpenArtifact(ctx context.Context, a messages.Artifact) (io.ReadCloser, error) {
	if a.State != messages.ArtifactStored || a.Object == "" {
		return nil, fmt.Errorf("artifact %s has no object (%s)", a.Path, a.State)
	}
	// The bucket's existence first, for ErrNoArtifactsBucket.
	if _, err := c.objects(ctx); err != nil {
		return nil, err
	}
	// Read with bounded memory: a batch of chunks at a time, the object's
	// own size and digest checked at EOF (jetstream.ErrDigestMismatch).
	obj, err := objget.Open(ctx, c.nc, messages.ArtifactsBucket, a.Object)
	if err != nil {
		return nil, fmt.Errorf("artifact %s: object %s: %w", a.Path, a.Object, err)
	}
	return &checked{r: obj, c: obj, h: sha256.New(), want: a.SHA256, what: a.Path}, nil
}

// checked checks the SHA-256 of what it reads at EOF.
type checked struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	want string
	what string
}

func (c *checked) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	if errors.Is(err, io.EOF) && c.want != "" {
		if got := hex.EncodeToString(c.h.Sum(nil)); got != c.want {
			return n, fmt.Errorf("%w: %s has SHA-256 %s, its result says %s", ErrArtifactDigest, c.what, got, c.want)
		}
	}
	return n, err
}

func (c *checked) Close() error { return c.c.Close() }

// Download writes the stored artifacts of r under the local directory
// dest (created if missing), each named after its container path's last
// element: files with their bytes, directories extracted (never through
// a link: driver.ReadArchive's rules), links as links. It refuses to
// overwrite and returns the local paths written. Missing artifacts and
// those over the cap are skipped; a digest mismatch fails.
func (c *Client) Download(ctx context.Context, r *messages.Result, dest string) ([]string, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, fmt.Errorf("download: %w", err)
	}
	var wrote []string
	for _, a := range r.Artifacts {
		if a.State != messages.ArtifactStored {
			continue
		}
		local := filepath.Join(dest, path.Base(a.Path))
		if err := c.download(ctx, a, local); err != nil {
			return wrote, err
		}
		wrote = append(wrote, local)
	}
	return wrote, nil
}

func (c *Client) download(ctx context.Context, a messages.Artifact, local string) error {
	if a.Kind == messages.KindLink {
		if err := os.Symlink(a.Link, local); err != nil {
			return fmt.Errorf("download %s: %w", a.Path, err)
		}
		return nil
	}
	rc, err := c.OpenArtifact(ctx, a)
	if err != nil {
		return err
	}
	defer rc.Close()
	if a.Kind == messages.KindDir {
		if err := os.Mkdir(local, 0o755); err != nil {
			return fmt.Errorf("download %s: %w", a.Path, err)
		}
		if err := extract(rc, local); err != nil {
			return fmt.Errorf("download %s: %w", a.Path, err)
		}
		// Read to the end: the digest is checked there.
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	f, err := os.OpenFile(local, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("download %s: %w", a.Path, err)
	}
	_, err = io.Copy(f, rc)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(local)
		return fmt.Errorf("download %s: %w", a.Path, err)
	}
	return nil
}

// extract writes the archive r into the new directory root.
func extract(r io.Reader, root string) error {
	return driver.ReadArchive(r, func(h *tar.Header, body io.Reader) error {
		target := filepath.Join(root, filepath.FromSlash(h.Name))
		mode := fs.FileMode(h.Mode) & 0o777
		switch h.Typeflag {
		case tar.TypeDir:
			if h.Name == "." {
				return nil
			}
			if err := os.Mkdir(target, mode|0o700); err != nil && !errors.Is(err, fs.ErrExist) {
				return err
			}
			return nil
		case tar.TypeSymlink:
			return os.Symlink(h.Linkname, target)
		}
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}
