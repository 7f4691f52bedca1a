package worker

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/messages"
)

func leaseConfig(id string) Config {
	return Config{WorkerID: id, Queue: "gpu", LeaseTTL: 1500 * time.Millisecond}
}

// Issue 12 #7: a second worker with a live worker's id refuses to start,
// naming the holder; the id is free at once when the holder releases it,
// and one lease period after a holder dies without releasing it.
func TestLeaseKeepsAWorkerIDExclusive(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	first, err := AcquireLease(ctx, e.js, leaseConfig("vm"), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	// Held and refreshed: the second one waits one lease period and gives up.
	_, err = AcquireLease(ctx, e.js, leaseConfig("vm"), testLogger(t))
	if !errors.Is(err, ErrWorkerIDTaken) || !strings.Contains(err.Error(), "queue gpu") || !strings.Contains(err.Error(), "--worker-id") {
		t.Fatalf("second worker with the id: %v; want ErrWorkerIDTaken naming the holder and the flag", err)
	}
	kv, err := e.js.KeyValue(ctx, messages.WorkersBucket)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := kv.Get(ctx, "vm")
	if err != nil {
		t.Fatal(err)
	}
	info, err := messages.DecodeWorkerInfo(entry.Value())
	if err != nil || info.ID != "vm" || info.Queue != "gpu" || info.PID == 0 {
		t.Errorf("the bucket's entry: %+v, %v", info, err)
	}

	first.Release()
	second, err := AcquireLease(ctx, e.js, leaseConfig("vm"), testLogger(t))
	if err != nil {
		t.Fatalf("after Release: %v", err)
	}
	// A holder that dies stops refreshing: the next one waits it out.
	second.stop()
	third, err := AcquireLease(ctx, e.js, leaseConfig("vm"), testLogger(t))
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	third.Release()
	if _, err := kv.Get(ctx, "vm"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("after Release the key is %v; want it gone", err)
	}
}

// A verifying worker (external server) does not create the bucket: while
// it is missing it waits, saying to provision, and takes the id once the
// bucket is provisioned.
func TestLeaseWaitsForTheProvisionedBucket(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, _ := jetstream.New(nc)
	c := leaseConfig("w")
	c.VerifyStreams = true
	var logs testproc.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	got := make(chan error, 1)
	go func() {
		l, err := AcquireLease(t.Context(), js, c, log)
		if err == nil {
			l.Release()
		}
		got <- err
	}()
	natstest.Eventually(t, 10*time.Second, func() bool { return strings.Contains(logs.String(), "worker --provision") }, "no word of provisioning: %s", logs.String())
	if err := Provision(t.Context(), js, c, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Errorf("after provisioning: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the lease was not taken after provisioning")
	}
}
