// Command worker runs jetrun tasks: it pulls task specs from NATS JetStream,
// runs each in a Docker container with secure defaults, and publishes its
// status, logs, stats and result. Run `worker --help` for the flags; each
// has a JETRUN_* environment equivalent (docs/worker.md).
//
// With no --nats URL it starts an embedded JetStream server in the same
// process, listening on --embedded-listen, so a single command gives a
// working system.
//
// SIGTERM or SIGINT stops pulling, waits up to --drain-timeout for running
// tasks, hands what is left back to the queue and exits. A second signal
// cuts the wait short: running tasks are cancelled and handed back at once,
// their containers removed, and NATS closed, within seconds.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	drain, startDrain := context.WithCancel(context.Background())
	abort, startAbort := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "worker: %v: draining (send it again to hand running tasks back now)\n", s)
		startDrain()
		s = <-sigs
		fmt.Fprintf(os.Stderr, "worker: second %v: cancelling running tasks and handing them back\n", s)
		startAbort()
	}()
	err := run(drain, abort, os.Args[1:], os.Stdout, os.Stderr)
	startDrain()
	startAbort()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "worker: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad flag or environment value (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
