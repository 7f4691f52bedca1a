// Command demotool is the helper of scripts/demo.sh (make demo): it does the
// few things a shell script cannot do well on any machine.
//
//	demotool image            build the demo image FROM scratch, print its reference
//	demotool free-port        print a free loopback TCP port
//	demotool wait-ready URL   wait (at most 60s) until a worker's streams exist at URL
//	demotool containers ID    print how many containers worker ID has left
//
// It must run inside the jetrun module: the image is the test image of
// internal/testimage, whose entrypoint is built from source.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/messages"
)

// demoTag is the extra, stable tag the demo image gets.
const demoTag = "jetrun-demo:latest"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demotool:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: demotool image | free-port | wait-ready URL | containers WORKER_ID")
	}
	switch args[0] {
	case "image":
		return buildImage(ctx, stdout)
	case "free-port":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer ln.Close()
		_, err = fmt.Fprintln(stdout, ln.Addr().(*net.TCPAddr).Port)
		return err
	case "wait-ready":
		if len(args) != 2 {
			return errors.New("usage: demotool wait-ready URL")
		}
		return waitReady(ctx, args[1], 60*time.Second)
	case "containers":
		if len(args) != 2 {
			return errors.New("usage: demotool containers WORKER_ID")
		}
		return countContainers(ctx, args[1], stdout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// buildImage builds the testee image (a static binary FROM scratch, no
// registry) and tags it demoTag too.
func buildImage(ctx context.Context, stdout io.Writer) error {
	cli, err := testimage.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	_, err = cli.Ping(pctx)
	cancel()
	if err != nil {
		return fmt.Errorf("the demo needs a running Docker daemon: %w", err)
	}
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	ref, err := testimage.Build(bctx, cli, demoTag)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, ref)
	return err
}

// waitReady polls url until the worker has created its three streams.
func waitReady(ctx context.Context, url string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		if last = streamsExist(ctx, url); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("worker not ready at %s within %v: %w", url, within, last)
		case <-tick.C:
		}
	}
}

func streamsExist(ctx context.Context, url string) error {
	nc, err := nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := nc.JetStream(nats.Context(ctx))
	if err != nil {
		return err
	}
	for _, name := range []string{messages.TasksStream, messages.EventsStream, messages.CancelsStream} {
		if _, err := js.StreamInfo(name, nats.Context(ctx)); err != nil {
			return fmt.Errorf("stream %s: %w", name, err)
		}
	}
	return nil
}

// countContainers prints how many containers carry the worker's label.
func countContainers(ctx context.Context, workerID string, stdout io.Writer) error {
	cli, err := testimage.NewClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", "jetrun.worker="+workerID)),
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, len(list))
	return err
}
