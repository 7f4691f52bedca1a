// Package testee interprets the small step language of jetrun's test image.
//
// The test image's entrypoint (cmd/testee) runs these steps in a real
// container; the fake driver runs the very same argv in-process, so the
// conformance suite (driver/drivertest) can use one set of commands for
// every driver.
//
// An argv is a list of steps separated by the token ";", run in order:
//
//	true                 nothing
//	echo ARGS...         ARGS joined by spaces plus "\n" to stdout
//	echoerr ARGS...      the same to stderr
//	cat                  copies stdin to stdout until EOF
//	env NAME             the value of env var NAME plus "\n" to stdout
//	pwd                  the working directory plus "\n" to stdout
//	sleep DURATION       sleeps (Go duration syntax: 500ms, 1h)
//	exit N               exits with code N at once
//	alloc MIB            allocates and touches MIB MiB, keeps it, continues
//	write MIB [stderr]   writes MIB MiB where byte i is byte(i % 251)
//	ignore-sigterm       ignores SIGTERM from now on
//	id                   the process's "uid:gid" plus "\n" to stdout
//	readfile PATH        the content of file PATH to stdout
//	writefile PATH TEXT  creates or truncates PATH and writes TEXT to it
//	symlink TARGET LINK  creates the symbolic link LINK pointing to TARGET
//	mkdir PATH           creates directory PATH and its missing parents
//	copy SRC DST         copies file SRC to DST
//	sha256 PATH OUT      writes the hex SHA-256 of file PATH plus "\n" to OUT
//	mkfiles DIR N        creates DIR and N files DIR/f0 ... holding "file <i>\n"
//	writemib PATH MIB    writes MIB MiB where byte i is byte(i % 251) to PATH
//
// After the last step the exit code is 0. An unknown or malformed step
// writes a message to stderr and exits with code 2.
package testee

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Separator is the argv token between two steps.
const Separator = ";"

// Exit codes the interpreter itself chooses.
const (
	// ExitUsage is returned for an unknown or malformed step.
	ExitUsage = 2
	// ExitIO is returned when writing to stdout or stderr, or reading
	// stdin, fails.
	ExitIO = 1
)

// PatternByte is the byte the write step puts at offset i.
func PatternByte(i int64) byte { return byte(i % 251) }

// Interpreter runs steps against the I/O and hooks it holds. The zero value
// uses the process's environment, working directory and real memory, and
// writes to io.Discard.
type Interpreter struct {
	// Getenv looks up an env var for the env step; nil means os.Getenv.
	Getenv func(string) string
	// Getwd returns the directory for the pwd step; nil means os.Getwd.
	Getwd func() (string, error)
	// Stdin is read by the cat step; nil reads as empty.
	Stdin io.Reader
	// Stdout and Stderr receive output; nil means io.Discard.
	Stdout, Stderr io.Writer
	// Alloc replaces the alloc step: it is called with the size in MiB.
	// A non-nil error stops the run and Run returns it (the fake driver
	// returns its out-of-memory error here). nil really allocates.
	Alloc func(ctx context.Context, mib int) error
	// IgnoreSIGTERM is called by the ignore-sigterm step; nil does nothing.
	IgnoreSIGTERM func()
	// IDs returns the uid and gid the id step prints; nil means the
	// process's own.
	IDs func() (uid, gid int)
	// Files serves the readfile, writefile and symlink steps; nil means
	// the process's file system.
	Files Files

	held [][]byte // memory the alloc step keeps until the run ends
}

// Files is the file system the file steps act on.
type Files interface {
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte) error
	Symlink(target, link string) error
	// MkdirAll creates a directory and its missing parents.
	MkdirAll(name string) error
}

// osFiles is the process's file system.
type osFiles struct{}

func (osFiles) ReadFile(name string) ([]byte, error)     { return os.ReadFile(name) }
func (osFiles) WriteFile(name string, data []byte) error { return os.WriteFile(name, data, 0o644) }
func (osFiles) Symlink(target, link string) error        { return os.Symlink(target, link) }
func (osFiles) MkdirAll(name string) error               { return os.MkdirAll(name, 0o755) }

// Run interprets args with the process's I/O replaced by the given values
// and returns the exit code. When ctx ends during a step the code is -1.
// It is the entry point of the testee binary: see Interpreter for hooks.
func Run(ctx context.Context, args []string, env func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	in := &Interpreter{Getenv: env, Stdin: stdin, Stdout: stdout, Stderr: stderr}
	code, _ := in.Run(ctx, args)
	return code
}

// Run interprets args and returns the exit code the process would exit
// with. err is non-nil only when the run was stopped from outside: ctx
// ended (err wraps context.Cause(ctx)), or the Alloc hook failed (err is
// the hook's error); the code is then -1.
func (in *Interpreter) Run(ctx context.Context, args []string) (code int, err error) {
	defer func() { in.held = nil }()
	for _, step := range Split(args) {
		if err := context.Cause(ctx); err != nil {
			return -1, fmt.Errorf("testee: stopped: %w", err)
		}
		code, stop, err := in.step(ctx, step)
		if err != nil {
			return -1, err
		}
		if stop {
			return code, nil
		}
	}
	return 0, nil
}

// Split cuts args into steps at each Separator token. Empty steps (two
// separators in a row) are dropped.
func Split(args []string) [][]string {
	var steps [][]string
	start := 0
	for i := 0; i <= len(args); i++ {
		if i == len(args) || args[i] == Separator {
			if i > start {
				steps = append(steps, args[start:i])
			}
			start = i + 1
		}
	}
	return steps
}

// step runs one step. stop reports that the run ends with code.
func (in *Interpreter) step(ctx context.Context, step []string) (code int, stop bool, err error) {
	name, args := step[0], step[1:]
	usage := func(format string, a ...any) (int, bool, error) {
		fmt.Fprintf(in.stderr(), "testee: "+format+"\n", a...)
		return ExitUsage, true, nil
	}
	ioFail := func(what string, err error) (int, bool, error) {
		fmt.Fprintf(in.stderr(), "testee: %s: %v\n", what, err)
		return ExitIO, true, nil
	}
	switch name {
	case "true":
		return 0, false, nil
	case "echo", "echoerr":
		w := in.stdout()
		if name == "echoerr" {
			w = in.stderr()
		}
		if _, err := io.WriteString(w, strings.Join(args, " ")+"\n"); err != nil {
			return ioFail(name, err)
		}
	case "cat":
		if err := in.cat(ctx); err != nil {
			if ctxErr := context.Cause(ctx); ctxErr != nil {
				return -1, true, fmt.Errorf("testee: cat stopped: %w", ctxErr)
			}
			return ioFail("cat", err)
		}
	case "env":
		if len(args) != 1 {
			return usage("env wants one variable name, got %d arguments", len(args))
		}
		getenv := in.Getenv
		if getenv == nil {
			getenv = os.Getenv
		}
		if _, err := io.WriteString(in.stdout(), getenv(args[0])+"\n"); err != nil {
			return ioFail("env", err)
		}
	case "pwd":
		getwd := in.Getwd
		if getwd == nil {
			getwd = os.Getwd
		}
		dir, err := getwd()
		if err != nil {
			return ioFail("pwd", err)
		}
		if _, err := io.WriteString(in.stdout(), dir+"\n"); err != nil {
			return ioFail("pwd", err)
		}
	case "sleep":
		if len(args) != 1 {
			return usage("sleep wants one duration, got %d arguments", len(args))
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d < 0 {
			return usage("sleep: %q is not a duration (want e.g. 500ms, 1h)", args[0])
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return -1, true, fmt.Errorf("testee: sleep stopped: %w", context.Cause(ctx))
		}
	case "exit":
		if len(args) != 1 {
			return usage("exit wants one code, got %d arguments", len(args))
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 || n > 255 {
			return usage("exit: %q is not a code in 0..255", args[0])
		}
		return n, true, nil
	case "alloc":
		mib, ok := mebibytes(args, 0)
		if !ok {
			return usage("alloc wants a size in MiB, got %q", args)
		}
		if in.Alloc != nil {
			if err := in.Alloc(ctx, mib); err != nil {
				return -1, true, err
			}
			return 0, false, nil
		}
		in.alloc(mib)
	case "write":
		mib, ok := mebibytes(args, 1)
		if !ok {
			return usage("write wants a size in MiB and optionally \"stderr\", got %q", args)
		}
		w := in.stdout()
		if len(args) == 2 {
			if args[1] != "stderr" {
				return usage("write: second argument must be \"stderr\", got %q", args[1])
			}
			w = in.stderr()
		}
		if err := writePattern(ctx, w, int64(mib)<<20); err != nil {
			if ctxErr := context.Cause(ctx); ctxErr != nil {
				return -1, true, fmt.Errorf("testee: write stopped: %w", ctxErr)
			}
			return ioFail("write", err)
		}
	case "ignore-sigterm":
		if in.IgnoreSIGTERM != nil {
			in.IgnoreSIGTERM()
		}
	case "id":
		uid, gid := os.Getuid(), os.Getgid()
		if in.IDs != nil {
			uid, gid = in.IDs()
		}
		if _, err := fmt.Fprintf(in.stdout(), "%d:%d\n", uid, gid); err != nil {
			return ioFail("id", err)
		}
	case "readfile":
		if len(args) != 1 {
			return usage("readfile wants one path, got %d arguments", len(args))
		}
		data, err := in.files().ReadFile(args[0])
		if err != nil {
			return ioFail("readfile", err)
		}
		if _, err := in.stdout().Write(data); err != nil {
			return ioFail("readfile", err)
		}
	case "writefile":
		if len(args) != 2 {
			return usage("writefile wants a path and a text, got %d arguments", len(args))
		}
		if err := in.files().WriteFile(args[0], []byte(args[1])); err != nil {
			return ioFail("writefile", err)
		}
	case "symlink":
		if len(args) != 2 {
			return usage("symlink wants a target and a link path, got %d arguments", len(args))
		}
		if err := in.files().Symlink(args[0], args[1]); err != nil {
			return ioFail("symlink", err)
		}
	default:
		return in.fileStep(ctx, name, args, usage, ioFail)
	}
	return 0, false, nil
}

func (in *Interpreter) files() Files {
	if in.Files == nil {
		return osFiles{}
	}
	return in.Files
}

// mebibytes parses args[0] as a non-negative size in MiB, allowing up to
// extra further arguments.
func mebibytes(args []string, extra int) (int, bool) {
	if len(args) < 1 || len(args) > 1+extra {
		return 0, false
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 0 || n > 1<<20 {
		return 0, false
	}
	return n, true
}

func (in *Interpreter) stdout() io.Writer {
	if in.Stdout == nil {
		return io.Discard
	}
	return in.Stdout
}

func (in *Interpreter) stderr() io.Writer {
	if in.Stderr == nil {
		return io.Discard
	}
	return in.Stderr
}

// cat copies stdin to stdout, checking ctx between reads.
func (in *Interpreter) cat(ctx context.Context) error {
	if in.Stdin == nil {
		return nil
	}
	buf := make([]byte, 32<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		n, rerr := in.Stdin.Read(buf)
		if n > 0 {
			if _, err := in.stdout().Write(buf[:n]); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// alloc allocates mib MiB, touches every page so the kernel charges it,
// and keeps it until the run ends.
func (in *Interpreter) alloc(mib int) {
	const page = 4096
	for range mib {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += page {
			b[i] = 1
		}
		in.held = append(in.held, b)
	}
}

// writePattern writes n bytes of the pattern to w in chunks, checking ctx
// between chunks.
func writePattern(ctx context.Context, w io.Writer, n int64) error {
	// 251*256 bytes: a whole number of periods, so every chunk starts at
	// pattern offset 0.
	chunk := make([]byte, 251*256)
	for i := range chunk {
		chunk[i] = PatternByte(int64(i))
	}
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := chunk
		if int64(len(c)) > n {
			c = c[:n]
		}
		if _, err := w.Write(c); err != nil {
			return err
		}
		n -= int64(len(c))
	}
	return nil
}
