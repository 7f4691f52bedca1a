package docker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/internal/testimage"
)

// TestFilesReadOnlyRoot: on a read-only root file system the scratch
// directory still takes inputs and keeps the outputs the task's non-root
// user writes there; a copy onto the read-only root is refused as the
// task's error, saying why.
func TestFilesReadOnlyRoot(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{ReadOnlyRootfs: true}, Options{})
	task := drivertest.NewTask(image, "id", ";", "readfile", "/jetrun/in/data", ";", "writefile", "/jetrun/out/result", "done", ";", "writefile", "/x", "no")
	task.Scratch = []string{"/jetrun"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := d.Prepare(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := c.(driver.Files)
	if err := f.CopyIn(ctx, "/jetrun/in", drivertest.Archive(t, drivertest.Entry{Name: "data", Mode: 0o600, Data: "input\n"})); err != nil {
		t.Fatalf("CopyIn into the scratch directory: %v", err)
	}
	if err := f.CopyIn(ctx, "/jetrun", drivertest.Archive(t, drivertest.Entry{Name: "out/", Mode: 0o700})); err != nil {
		t.Fatalf("CopyIn of the output directory: %v", err)
	}
	err = f.CopyIn(ctx, "/data", drivertest.Archive(t, drivertest.Entry{Name: "x", Data: "x"}))
	if err == nil || !driver.IsUserVisible(err) || !driver.IsPermanent(err) || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("CopyIn onto the read-only root: %v; want a permanent user error saying read-only", err)
	}
	res, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The last step fails: the root is read-only.
	if got := string(task.Stdout()); got != "65534:65534\ninput\n" {
		t.Errorf("stdout = %q (stderr %q, %v)", got, task.Stderr(), res)
	}
	rc, err := f.CopyOut(ctx, "/jetrun/out/result")
	if err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	defer rc.Close()
	got := drivertest.ReadEntries(t, rc)
	if len(got) != 1 || got[0].Data != "done" {
		t.Errorf("CopyOut of what the task wrote = %+v; want one file holding done", got)
	}
}
