package drivertest

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/driver"
)

// Entry is one entry of a test archive: Link set makes a symbolic link,
// a Name ending in "/" a directory, anything else a regular file.
type Entry struct {
	Name string
	Mode int64
	Data string
	Link string
}

// Archive returns a tar archive of entries, in order.
func Archive(t testing.TB, entries ...Entry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.Name, Mode: e.Mode, Typeflag: tar.TypeReg, Size: int64(len(e.Data))}
		switch {
		case e.Link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.Link, 0
		case strings.HasSuffix(e.Name, "/"):
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.Data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// ReadEntries reads a whole archive into Entries (modes' permission bits
// only, directory names ending in "/").
func ReadEntries(t testing.TB, r io.Reader) []Entry {
	t.Helper()
	var out []Entry
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read archive entry %s: %v", h.Name, err)
		}
		e := Entry{Name: h.Name, Mode: h.Mode & 0o777, Data: string(data), Link: h.Linkname}
		if h.Typeflag == tar.TypeDir && !strings.HasSuffix(e.Name, "/") {
			e.Name += "/"
		}
		if h.Typeflag == tar.TypeSymlink {
			e.Mode = 0
		}
		out = append(out, e)
	}
}

func (s *suite) files(t *testing.T, c driver.Cookie) driver.Files {
	t.Helper()
	f, ok := c.(driver.Files)
	if !ok {
		t.Skip("the driver's cookies do not implement driver.Files")
	}
	return f
}

func (s *suite) copyOut(t *testing.T, f driver.Files, path string) []Entry {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	rc, err := f.CopyOut(ctx, path)
	if err != nil {
		t.Fatalf("CopyOut(%s): %v", path, err)
	}
	defer rc.Close()
	return ReadEntries(t, rc)
}

func expectEntries(t *testing.T, what string, got, want []Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: archive has %d entries %+v; want %+v", what, len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%s: entry %d = %+v; want %+v", what, i, got[i], want[i])
		}
	}
}

// testFiles copies files and a directory into a prepared container (modes,
// an empty file, a link, missing parents), has the task, as the
// container's user, read them and write outputs into a scratch directory,
// and copies those out of the stopped container: files, a directory, a
// link kept as a link, a missing path.
func (s *suite) testFiles(t *testing.T) {
	task := s.task(
		"readfile", "/jetrun/in/a.txt", ";", "readfile", "/jetrun/in/tree/sub/b", ";",
		"readfile", "/jetrun/in/tree/empty", ";",
		"mkdir", "/jetrun/out/dir", ";", "writefile", "/jetrun/out/dir/x", "hello", ";",
		"copy", "/jetrun/in/a.txt", "/jetrun/out/a-copy", ";",
		"symlink", "/", "/jetrun/out/dir/root", ";",
		"symlink", "/etc/passwd", "/jetrun/out/passwd-link", ";",
		"writefile", "/jetrun/out/empty", "")
	task.Scratch = []string{"/jetrun"}
	c := s.prepare(t, task)
	f := s.files(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	if err := f.CopyIn(ctx, "/jetrun/in", Archive(t,
		Entry{Name: "a.txt", Mode: 0o640, Data: "alpha\n"},
	)); err != nil {
		t.Fatalf("CopyIn file: %v", err)
	}
	tree := []Entry{
		{Name: "./", Mode: 0o750},
		{Name: "sub/", Mode: 0o700},
		{Name: "sub/b", Mode: 0o600, Data: "beta"},
		{Name: "empty", Mode: 0o644},
		{Name: "link", Link: "sub/b"},
	}
	if err := f.CopyIn(ctx, "/jetrun/in/tree", Archive(t, tree...)); err != nil {
		t.Fatalf("CopyIn directory: %v", err)
	}
	if err := f.CopyIn(ctx, "/jetrun", Archive(t, Entry{Name: "out/", Mode: 0o755})); err != nil {
		t.Fatalf("CopyIn output directory: %v", err)
	}
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	expect(t, res, driver.StatusSuccess, 0)
	expectOutput(t, task, "alpha\nbeta", "")

	expectEntries(t, "a copied file", s.copyOut(t, f, "/jetrun/out/a-copy"), []Entry{{Name: "a-copy", Mode: 0o644, Data: "alpha\n"}})
	expectEntries(t, "an empty file", s.copyOut(t, f, "/jetrun/out/empty"), []Entry{{Name: "empty", Mode: 0o644}})
	expectEntries(t, "a link", s.copyOut(t, f, "/jetrun/out/passwd-link"), []Entry{{Name: "passwd-link", Link: "/etc/passwd"}})
	expectEntries(t, "a directory with a link to /", s.copyOut(t, f, "/jetrun/out/dir"), []Entry{
		{Name: "dir/", Mode: 0o755}, {Name: "dir/root", Link: "/"}, {Name: "dir/x", Mode: 0o644, Data: "hello"},
	})
	expectEntries(t, "an input directory", s.copyOut(t, f, "/jetrun/in/tree"), []Entry{
		{Name: "tree/", Mode: 0o750}, {Name: "tree/empty", Mode: 0o644}, {Name: "tree/link", Link: "sub/b"},
		{Name: "tree/sub/", Mode: 0o700}, {Name: "tree/sub/b", Mode: 0o600, Data: "beta"},
	})
	if _, err := f.CopyOut(ctx, "/jetrun/out/nope"); !errors.Is(err, driver.ErrNotExist) {
		t.Errorf("CopyOut of a missing path: %v; want an error wrapping driver.ErrNotExist", err)
	}
}

// testFilesRefused checks that archives that would write outside their
// directory, or through a link, are refused, and that a failing reader's
// error comes back.
func (s *suite) testFilesRefused(t *testing.T) {
	task := s.task()
	task.Scratch = []string{"/jetrun"}
	c := s.prepare(t, task)
	f := s.files(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	for name, entries := range map[string][]Entry{
		"dotdot":        {{Name: "../../etc/evil", Data: "x"}},
		"absolute":      {{Name: "/etc/evil", Data: "x"}},
		"through link":  {{Name: "l", Link: "/etc"}, {Name: "l/evil", Data: "x"}},
		"through file":  {{Name: "f", Data: "x"}, {Name: "f/evil", Data: "x"}},
		"root not dir":  {{Name: "./", Link: "/etc"}},
		"hidden dotdot": {{Name: "a/../../evil", Data: "x"}},
	} {
		if err := f.CopyIn(ctx, "/jetrun/in", Archive(t, entries...)); !errors.Is(err, driver.ErrBadArchive) {
			t.Errorf("CopyIn of %s: %v; want an error wrapping driver.ErrBadArchive", name, err)
		}
	}
	var hard bytes.Buffer
	tw := tar.NewWriter(&hard)
	_ = tw.WriteHeader(&tar.Header{Name: "h", Typeflag: tar.TypeLink, Linkname: "/etc/shadow"})
	_ = tw.Close()
	if err := f.CopyIn(ctx, "/jetrun/in", &hard); !errors.Is(err, driver.ErrBadArchive) {
		t.Errorf("CopyIn of a hard link: %v; want an error wrapping driver.ErrBadArchive", err)
	}
	boom := errors.New("source failed")
	head := Archive(t, Entry{Name: "x/", Mode: 0o755}, Entry{Name: "x/y", Data: "y"}).Bytes()
	head = head[:len(head)-1024] // without the end-of-archive blocks
	if err := f.CopyIn(ctx, "/jetrun/in", io.MultiReader(bytes.NewReader(head), failing{boom})); !errors.Is(err, boom) {
		t.Errorf("CopyIn from a failing reader: %v; want an error wrapping its error", err)
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }
