// Package workertest runs a real jetrun worker for the tests of the
// packages around it (client, submit, deployment), so each does not write
// its own start and stop.
package workertest

import (
	"context"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/worker"
)

// Run runs w in the background until the test ends, and returns once w is
// ready (its streams and consumer exist, see Worker.Ready), failing the
// test if it is not within 30s. When the test ends it stops w (a clean
// drain) and fails the test if Run returned an error.
func Run(t testing.TB, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker: run: %v", err)
		}
	})
	natstest.Eventually(t, 30*time.Second, func() bool { return w.Ready(ctx) == nil }, "worker not ready")
}
