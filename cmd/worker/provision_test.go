package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/worker"
)

// provisionStreams runs `worker --provision --nats url` and fails the test
// unless it succeeds.
func provisionStreams(t *testing.T, url string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), t.Context(), []string{"--provision", "--nats", url}, &stdout, &stderr); err != nil {
		t.Fatalf("worker --provision: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "provisioned streams JETRUN_TASKS, JETRUN_EVENTS, JETRUN_CANCELS, JETRUN_RESULTS, JETRUN_RUNS") {
		t.Fatalf("worker --provision printed %q", stdout.String())
	}
}

func TestProvisionCreatesTheStreamsAndExits(t *testing.T) {
	srv := natstest.Start(t)
	provisionStreams(t, srv.ClientURL())
	provisionStreams(t, srv.ClientURL()) // again: nothing to change
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range worker.StreamNames() {
		if _, err := js.Stream(t.Context(), name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	if _, err := parseFlags([]string{"--provision"}, io.Discard); !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--nats") {
		t.Errorf("--provision without --nats: %v; want a usage error naming --nats", err)
	}
}

// A worker with --nats never creates streams: on a server nobody
// provisioned it waits, logging how to fix it, and stops cleanly.
func TestWorkerWaitsForProvisioning(t *testing.T) {
	testimage.Docker(t) // the worker connects to Docker before NATS
	srv := natstest.Start(t)
	var stderr testproc.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, t.Context(), []string{"--nats", srv.ClientURL(), "--metrics-addr", ""}, io.Discard, &stderr)
	}()
	natstest.Eventually(t, 20*time.Second, func() bool { return strings.Contains(stderr.String(), "worker --provision") },
		"the worker does not say the streams need worker --provision:\n%s", stderr.String())
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	if names := js.StreamNames(t.Context()); names.Err() == nil {
		for n := range names.Name() {
			t.Errorf("stream %s exists; a worker with --nats must create none", n)
		}
	}
}
