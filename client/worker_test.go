package client_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/worker"
	"github.com/jetrun/jetrun/worker/workertest"
)

// ensureStreams creates the streams the way workers do, for tests that
// need them without a worker consuming.
func ensureStreams(t *testing.T, js jetstream.JetStream, prefix string) {
	t.Helper()
	if err := worker.EnsureStreams(t.Context(), js, prefix); err != nil {
		t.Fatal(err)
	}
}

// startWorker runs a real worker on the fake driver (which interprets the
// testee steps: echo, sleep, exit, ...) until the test ends, and returns
// its driver.
func startWorker(t *testing.T, e *env) *fake.Driver {
	t.Helper()
	ensureStreams(t, e.js, e.c.Prefix()) // before Run returns to the test: no race with the first submit
	drv := fake.New(fake.Options{})
	cfg := worker.Config{
		Prefix:       e.c.Prefix(),
		Queue:        e.c.Queue(),
		WorkerID:     "test-worker",
		Concurrency:  4,
		PullWait:     200 * time.Millisecond,
		DrainTimeout: 5 * time.Second,
		LeaseTTL:     3 * time.Second, // refreshed every second: running tasks show soon
	}
	log := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	w, err := worker.New(natstest.Connect(t, e.srv), drv, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := worker.AcquireLease(t.Context(), e.js, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	lease.Report(w.Running)
	t.Cleanup(lease.Release)
	workertest.Run(t, w)
	return drv
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
