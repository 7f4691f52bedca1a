// Command submit runs containers on jetrun workers and follows them: it
// publishes a task to NATS JetStream, prints the container's output live
// and exits with the container's exit code. It also reads a task's logs and
// status after the fact and cancels tasks. docs/submit.md lists every flag.
//
//	submit run --timeout 1m -e NAME=value busybox -- sh -c 'echo hi'
//	submit run --detach -f task.yaml
//	submit logs -f ID
//	submit status --json ID
//	submit cancel --reason "not needed" ID
//
// Who owns what: this command owns the command line (flags, spec files,
// what is printed, exit codes): one file per command (run.go, logs.go,
// status.go, cancel.go) on the skeleton of command.go, and exitStatus
// below as the one place errors become exit codes. Following a task to
// its end is client.Handle.Follow; connecting to NATS is
// internal/natsconn; the protocol is package messages.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := interruptContext()
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(exitStatus(err, os.Stderr))
}

// exitStatus returns submit's exit code for err and prints err on stderr
// when it has something left to say. A task's own exit code comes as a
// *taskExitError; an error of no other kind is exit 1.
func exitStatus(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var te *taskExitError
	if errors.As(err, &te) {
		return te.code
	}
	code := exitError
	var ce *codeError
	if errors.As(err, &ce) {
		code = ce.code
		if ce.err == nil {
			return code
		}
	}
	fmt.Fprintln(stderr, err)
	return code
}

// interruptContext returns a context cancelled by the first SIGINT or
// SIGTERM, so the command can cancel its task and wait for the result; a
// second one exits at once with 130.
func interruptContext() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-sigs:
			cancel()
		case <-done:
			return
		}
		select {
		case <-sigs:
			fmt.Fprintln(os.Stderr, "submit: interrupted again: exiting without waiting")
			os.Exit(exitInterrupted)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
