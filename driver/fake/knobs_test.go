package fake_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/driver/fake"
)

// pullTask records pull progress reports.
type pullTask struct {
	*drivertest.Task
	reports []driver.PullProgress
}

func (p *pullTask) PullProgress(pp driver.PullProgress) { p.reports = append(p.reports, pp) }

func TestKnobs(t *testing.T) {
	ctx := context.Background()
	d := fake.New(fake.Options{})
	d.FailPrepare(driver.Transient(errors.New("flaky")), nil, driver.Permanent(errors.New("broken")))

	if _, err := d.Prepare(ctx, drivertest.NewTask("img", "true")); !driver.IsTransient(err) {
		t.Errorf("first Prepare: %v, want the queued transient error", err)
	}
	c, err := d.Prepare(ctx, drivertest.NewTask("img", "true"))
	if err != nil {
		t.Fatalf("second Prepare: %v, want success (nil entry)", err)
	}
	if _, err := d.Prepare(ctx, drivertest.NewTask("img", "true")); !errors.Is(err, driver.ErrPermanent) {
		t.Errorf("third Prepare: %v, want the queued permanent error", err)
	}
	if d.Prepares() != 3 || d.Live() != 1 {
		t.Errorf("prepares %d live %d, want 3 and 1", d.Prepares(), d.Live())
	}
	if _, err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if d.Runs() != 1 || d.Closes() != 1 || d.Live() != 0 {
		t.Errorf("runs %d closes %d live %d, want 1, 1, 0", d.Runs(), d.Closes(), d.Live())
	}

	d.SimulatePull("big:1", 30<<20, 3, time.Millisecond)
	pt := &pullTask{Task: drivertest.NewTask("big:1", "true")}
	c, err = d.Prepare(ctx, pt)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if len(pt.reports) != 3 || pt.reports[2].Done != 30<<20 || pt.reports[2].Total != 30<<20 {
		t.Errorf("pull reports %+v, want 3 ending at 30 MiB of 30 MiB", pt.reports)
	}

	d.SetPrepareDelay(time.Hour)
	dctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := d.Prepare(dctx, drivertest.NewTask("img", "true")); !driver.IsTransient(err) {
		t.Errorf("Prepare past its context: %v, want a transient error", err)
	}
	d.SetPrepareDelay(0)

	d.PanicOn(func(stage string, _ driver.ContainerTask) bool { return stage == fake.StagePrepare })
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Prepare did not panic on demand")
			}
		}()
		_, _ = d.Prepare(ctx, drivertest.NewTask("img", "true"))
	}()
	d.SetAlive(false)
	if d.IsAlive(ctx) {
		t.Error("IsAlive after SetAlive(false)")
	}
}
