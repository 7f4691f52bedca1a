package docker

import (
	"context"
	"testing"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
)

// An orphan (a container of this worker id that no cookie of the driver
// holds, here made by another driver instance as a crashed run of the
// worker would have) is removed by the periodic reconcile; the driver's
// own containers are kept.
func TestReconcileRemovesOrphansOnly(t *testing.T) {
	image := testimage.Ensure(t)
	worker := testWorker + "-reconcile"
	earlier := newDriver(t, driver.Config{}, Options{WorkerID: worker})
	orphan := drivertest.NewTask(image, "sleep", "1h")
	if _, err := earlier.Prepare(context.Background(), orphan); err != nil {
		t.Fatal(err)
	}

	d := newDriver(t, driver.Config{}, Options{WorkerID: worker})
	own := drivertest.NewTask(image, "sleep", "1h")
	c, err := d.Prepare(context.Background(), own)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n, err := d.Reconcile(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("Reconcile = %d, %v; want 1 orphan removed", n, err)
	}
	if got := taskContainers(t, d, orphan.ID); got != 0 {
		t.Errorf("orphan still has %d containers", got)
	}
	if got := taskContainers(t, d, own.ID); got != 1 {
		t.Errorf("the driver's own container: %d, want 1 kept", got)
	}

	// The same, by the driver's own clock.
	periodic := newDriver(t, driver.Config{}, Options{WorkerID: worker + "-periodic", ReconcileInterval: 50 * time.Millisecond})
	stray := newDriver(t, driver.Config{}, Options{WorkerID: worker + "-periodic"})
	again := drivertest.NewTask(image, "sleep", "1h")
	if _, err := stray.Prepare(context.Background(), again); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 30*time.Second, func() bool { return taskContainers(t, periodic, again.ID) == 0 }, "orphan not removed by the periodic reconcile")
}
