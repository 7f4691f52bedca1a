package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
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
	if !strings.Contains(stdout.String(), "provisioned streams JETRUN_TASKS, JETRUN_EVENTS, JETRUN_CANCELS, JETRUN_RESULTS") {
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
// provisioned it stops with an error that says how to fix it.
func TestWorkerRefusesUnprovisionedServer(t *testing.T) {
	testimage.Docker(t) // the worker connects to Docker before NATS
	srv := natstest.Start(t)
	var stderr bytes.Buffer
	err := run(t.Context(), t.Context(), []string{"--nats", srv.ClientURL(), "--metrics-addr", ""}, io.Discard, &stderr)
	if !errors.Is(err, worker.ErrLayout) || !strings.Contains(err.Error(), "worker --provision") {
		t.Fatalf("run: %v; want %v naming worker --provision", err, worker.ErrLayout)
	}
}
