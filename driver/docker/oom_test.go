package docker

import (
	"context"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/internal/testimage"
)

// TestOOMEventReachesWatcher checks the second source of OOM evidence on
// its own: the daemon's oom event for a container of this worker reaches
// the driver's shared event stream, whatever State.OOMKilled says.
func TestOOMEventReachesWatcher(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(image, "alloc", "64")
	task.MemoryLimit = 16 << 20
	c := prepare(t, d, task)
	id := c.(*cookie).id
	seen := d.oom.watch(id)
	defer d.oom.forget(id)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitC, errC := d.cli.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := d.cli.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-waitC:
	case err := <-errC:
		t.Fatal(err)
	}
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		// containerd 1.6 on cgroup v1 can lose the kernel's report
		// altogether (see the package doc); then the flag is unset too.
		info, err := d.cli.ContainerInspect(ctx, id)
		if err == nil && info.State.OOMKilled {
			t.Fatal("State.OOMKilled is set but no oom event reached the driver's stream")
		}
		t.Skip("the runtime reported this OOM kill neither as an event nor in State.OOMKilled")
	}
}
