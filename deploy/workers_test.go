package deploy_test

import (
	"context"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/worker"
)

// With the shipped nats.conf: the worker user takes, refreshes and
// releases its id's lease in the provisioned JETRUN_WORKERS bucket; the
// submitter sees the live workers and their queues, and cannot write a
// lease (it would lock a worker out of its id, or fake one).
func TestWorkerLeaseUnderTheShippedConf(t *testing.T) {
	f := startFromConf(t)
	f.provision(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	lease, err := worker.AcquireLease(t.Context(), w.js, worker.Config{WorkerID: "w1", Queue: "gpu", VerifyStreams: true}, nil)
	if err != nil {
		t.Fatalf("worker: take the lease: %v", err)
	}
	c, err := client.New(s.nc)
	if err != nil {
		t.Fatal(err)
	}
	ws, err := c.Workers(t.Context())
	if err != nil || len(ws) != 1 || ws[0].ID != "w1" || ws[0].Queue != "gpu" {
		t.Fatalf("submitter: workers %+v, %v; want w1 on gpu", ws, err)
	}
	s.refuse(t, "$KV.JETRUN_WORKERS.w1", func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_, err := s.js.Publish(ctx, "$KV.JETRUN_WORKERS.w1", []byte("forged"))
		return err
	})
	lease.Release()
	if ws, err := c.Workers(t.Context()); err != nil || len(ws) != 0 {
		t.Errorf("after release: workers %+v, %v; want none", ws, err)
	}
	noViolations(t, w)
}
