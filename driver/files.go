package driver

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Files is an optional capability of a Cookie: copying files into its
// container after Prepare and before Run, and out of it once Run has
// returned, until Close. Both directions stream: a driver never holds a
// whole file in memory.
type Files interface {
	// CopyIn extracts the tar archive r into the container under the
	// absolute directory dir, creating dir and its missing parents. Entry
	// names are relative to dir; ReadArchive's rules apply, and an entry
	// breaking them fails the copy with an error wrapping ErrBadArchive.
	// Every entry and created directory is owned by the user the
	// container runs as (when the driver can tell its numeric id; else
	// directories are made writable by all, like /tmp), with the entry's
	// permission bits. An error reading r is returned wrapped, so
	// errors.Is reaches it. A copy the container refuses (a path on a
	// read-only root file system, a file where a directory is needed) is
	// a UserError, permanent; a runtime failure is classified
	// ErrTransient or ErrPermanent as for Prepare.
	CopyIn(ctx context.Context, dir string, r io.Reader) error
	// CopyOut returns a tar archive of the absolute path in the stopped
	// container: one entry named after path's last element and, for a
	// directory, its contents below it. Symbolic links are archived as
	// links, never followed (the last element of path included); links
	// in path's parents resolve inside the container, never outside it. A
	// path that does not exist gives an error wrapping ErrNotExist.
	CopyOut(ctx context.Context, path string) (io.ReadCloser, error)
}

// ScratchDirs is an optional capability of a ContainerTask: absolute
// directories the driver provides in the container, empty, that stay
// writable for CopyIn even on a read-only root file system and keep what
// the task wrote there for CopyOut until the cookie is closed (Docker: an
// anonymous volume each). They are owned by root: CopyIn of a directory
// entry makes a subdirectory the task's user can write.
type ScratchDirs interface {
	// ScratchDirs returns the directories; none may be "/" or nest in
	// another.
	ScratchDirs() []string
}

// TaskScratchDirs returns task's ScratchDirs, none when it has not the
// capability.
func TaskScratchDirs(task ContainerTask) []string {
	if s, ok := task.(ScratchDirs); ok {
		return s.ScratchDirs()
	}
	return nil
}

var (
	// ErrNotExist is wrapped by CopyOut when the path does not exist in
	// the container.
	ErrNotExist = errors.New("no such file or directory in the container")
	// ErrBadArchive is wrapped by ReadArchive (and so CopyIn) when an
	// entry is refused.
	ErrBadArchive = errors.New("archive refused")
)

// MaxArchiveEntries bounds the entries ReadArchive accepts in one
// archive.
const MaxArchiveEntries = 1 << 20

// ReadArchive reads the tar archive r and calls fn for every entry, in
// order, with its name cleaned, relative and without a trailing slash
// ("." is the archive's root directory), and its content. It refuses,
// with an error wrapping ErrBadArchive, an entry whose name is absolute,
// holds a ".." element or NUL, or lies beneath a symbolic link or a
// regular file of the same archive (so extracting it never writes through
// a link); an entry that is not a regular file, a directory or a symbolic
// link; and more than MaxArchiveEntries entries. Hard links are refused:
// they could name any file. An error of fn or of r stops it and is
// returned wrapped.
func ReadArchive(r io.Reader, fn func(hdr *tar.Header, body io.Reader) error) error {
	tr := tar.NewReader(r)
	leaves := map[string]bool{} // links and files seen: nothing may lie beneath them
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %w", err)
		}
		if n >= MaxArchiveEntries {
			return fmt.Errorf("%w: more than %d entries", ErrBadArchive, MaxArchiveEntries)
		}
		name, err := CleanArchiveName(hdr.Name)
		if err != nil {
			return err
		}
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeDir, tar.TypeSymlink:
		case '\x00': // pre-POSIX regular file (tar.TypeRegA)
			hdr.Typeflag = tar.TypeReg
		default:
			return fmt.Errorf("%w: entry %q has type %q: only files, directories and symbolic links are copied", ErrBadArchive, hdr.Name, hdr.Typeflag)
		}
		for p := path.Dir(name); p != "."; p = path.Dir(p) {
			if leaves[p] {
				return fmt.Errorf("%w: entry %q lies beneath %q, a symbolic link or file of the archive", ErrBadArchive, hdr.Name, p)
			}
		}
		if name == "." && hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: entry %q is the archive's root but not a directory", ErrBadArchive, hdr.Name)
		}
		if hdr.Typeflag != tar.TypeDir {
			leaves[name] = true
		}
		if strings.IndexByte(hdr.Linkname, 0) >= 0 {
			return fmt.Errorf("%w: entry %q: link target contains NUL", ErrBadArchive, hdr.Name)
		}
		hdr.Name = name
		if err := fn(hdr, tr); err != nil {
			return err
		}
	}
}

// CleanArchiveName returns name cleaned and relative, without a trailing
// slash, or an error wrapping ErrBadArchive when it is absolute or holds
// a ".." element or NUL.
func CleanArchiveName(name string) (string, error) {
	trimmed := strings.TrimSuffix(name, "/")
	switch {
	case name == "" || strings.IndexByte(name, 0) >= 0:
		return "", fmt.Errorf("%w: entry name %q is empty or holds NUL", ErrBadArchive, name)
	case strings.HasPrefix(name, "/"):
		return "", fmt.Errorf("%w: entry %q is absolute", ErrBadArchive, name)
	}
	for _, el := range strings.Split(trimmed, "/") {
		if el == ".." {
			return "", fmt.Errorf("%w: entry %q has a \"..\" element", ErrBadArchive, name)
		}
	}
	return path.Clean(trimmed), nil
}
