// Command bench measures jetrun against its baselines, side by side, on
// this machine and in the same run: the task pipeline against a plain
// JetStream pull consumer, and the Docker path against the Docker API used
// directly. It prints each repeat as it goes, rewrites the generated part
// of docs/benchmarks.md, and ends with one line per benchmark:
//
//	BENCH <name> ratio=<x> target=<y>
//
// A ratio is jetrun's speed over its baseline's (for a latency, the
// baseline's time over jetrun's), so higher is better and a benchmark meets
// its target when ratio >= target. Run it from the module root with
// `make bench`; `go run ./bench -h` lists the flags.
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// run parses args, runs the selected benchmarks and reports them.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	h, err := newHarness(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	defer h.close()
	return h.runAll(ctx)
}
