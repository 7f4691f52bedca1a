// Command testee is the entrypoint of jetrun's test image: it runs the
// steps of its argv (see package testee) against the real process, so tests
// can make a container echo, read stdin, sleep, exit with a code, use
// memory, write a lot of output or ignore SIGTERM.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/jetrun/jetrun/internal/testimage/testee"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run interprets args as the process's steps and returns the exit code.
// SIGTERM keeps its default action (the process dies) until an
// ignore-sigterm step.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	in := &testee.Interpreter{
		Stdin:         stdin,
		Stdout:        stdout,
		Stderr:        stderr,
		IgnoreSIGTERM: func() { signal.Ignore(syscall.SIGTERM) },
	}
	code, err := in.Run(ctx, args)
	if err != nil {
		io.WriteString(stderr, "testee: "+err.Error()+"\n")
		return 1
	}
	return code
}
