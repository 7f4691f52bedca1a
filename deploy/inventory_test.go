package deploy_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// TestInventoryUnderTheShippedConf: the submitter lists, inspects, counts,
// retries and purges with nats.conf's grants and nothing is refused; the
// worker writes the index and dead letters; neither can forge the other's
// part: a submitter cannot write an index record or a dead letter, and a
// worker cannot retry (publish a task) or purge.
func TestInventoryUnderTheShippedConf(t *testing.T) {
	f := startFromConf(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	runWorker(t, f, w)
	c, err := client.New(s.nc, client.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []*messages.Task{
		{ID: "fine", Image: "demo:latest", Cmd: []string{"echo", "hi"}},
		{ID: "broken", Image: "demo:latest", Cmd: []string{"exit", "2"}, Env: map[string]string{"TOKEN": "s3cret"}},
	} {
		if _, err := c.Run(ctx, tk); err != nil {
			t.Fatalf("run %s: %v", tk.ID, err)
		}
	}
	page, err := c.List(ctx, client.ListOptions{})
	if err != nil || len(page.Tasks) != 2 {
		t.Fatalf("list = %+v, %v", page, err)
	}
	d, err := c.Inspect(ctx, "broken")
	if err != nil || !d.Dead || d.Spec == nil || d.Spec.Env["TOKEN"] != "s3cret" {
		t.Fatalf("inspect = %+v, %v; want the dead letter's whole spec", d, err)
	}
	if d, err := c.Inspect(ctx, "fine"); err != nil || d.State != client.StateSucceeded {
		t.Fatalf("inspect fine = %+v, %v", d, err)
	}
	if _, err := c.Queues(ctx); err != nil {
		t.Fatalf("queues: %v", err)
	}
	next, err := c.Retry(ctx, "broken")
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	natstest.Eventually(t, 30*time.Second, func() bool {
		d, err := c.Inspect(ctx, next)
		return err == nil && d.State == client.StateFailed
	}, "the retry %s never failed like the first", next)
	if err := c.Purge(ctx, "broken"); err != nil {
		t.Fatalf("purge: %v", err)
	}
	noViolations(t, s)
	noViolations(t, w)

	// The submitter cannot forge the workers' records...
	for _, subject := range []string{subj.Index(messages.TaskSucceeded, queue, "forged"), subj.Dead(queue, "forged")} {
		s.refuse(t, subject, func(ctx context.Context) error {
			_, err := s.js.Publish(ctx, subject, []byte("x"))
			return err
		})
	}
	// ...nor delete anything but dead letters.
	s.refuse(t, "$JS.API.STREAM.MSG.DELETE."+messages.IndexStream, func(ctx context.Context) error {
		_, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+messages.IndexStream, []byte(`{"seq":1}`))
		return err
	})
	// The worker cannot retry (publish a task: TestWorkerCannotPublishTasks)
	// nor purge.
	w.refuse(t, "$JS.API.STREAM.MSG.DELETE."+messages.DeadStream, func(ctx context.Context) error {
		_, err := w.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.DELETE."+messages.DeadStream, []byte(`{"seq":1}`))
		return err
	})
}
