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
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := interruptContext()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
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
			os.Exit(130)
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}
