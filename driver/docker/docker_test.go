package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/internal/testimage"
)

// testWorker labels every container these tests create, so the final
// check finds only ours even when other packages use the daemon too.
var testWorker = fmt.Sprintf("dockertest-%d-%d", os.Getpid(), time.Now().UnixNano())

func TestMain(m *testing.M) {
	code := m.Run()
	stopSharedRegistry()
	if err := removeLeftovers(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "FAIL: goroutines leaked:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// removeLeftovers fails when a container of this test process survived
// its test, and removes it.
func removeLeftovers() error {
	cli, err := testimage.NewClient()
	if err != nil {
		return nil
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := cli.Ping(ctx); err != nil {
		return nil // no daemon: the tests skipped or failed already
	}
	list, err := cli.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelWorker+"="+testWorker)),
	})
	if err != nil {
		return fmt.Errorf("list leftover containers: %w", err)
	}
	var names []string
	for _, c := range list {
		names = append(names, fmt.Sprintf("%s (task %s)", shortID(c.ID), c.Labels[LabelTask]))
		cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	if len(names) > 0 {
		return fmt.Errorf("%d container(s) with label %s=%s left after the tests: %s", len(names), LabelWorker, testWorker, strings.Join(names, ", "))
	}
	return nil
}

// testLogger routes a driver's logs to t.Log until the test ends.
func testLogger(t testing.TB) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tWriter) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

// newDriver returns a driver on the local daemon, skipping the test when
// Docker is unavailable (failing with JETRUN_REQUIRE_DOCKER=1).
func newDriver(t testing.TB, cfg driver.Config, opts Options) *Driver {
	t.Helper()
	testimage.Docker(t)
	if opts.WorkerID == "" {
		opts.WorkerID = testWorker
	}
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	if opts.DockerConfigDir == "" {
		opts.DockerConfigDir = t.TempDir() // no credentials unless asked
	}
	if opts.ReconcileInterval == 0 {
		opts.ReconcileInterval = -1 // tests share a worker id
	}
	d, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("driver Close: %v", err)
		}
	})
	return d
}

// registry returns the shared test registry, skipping (or failing with
// JETRUN_REQUIRE_DOCKER=1) when docker-registry cannot run.
func needRegistry(t testing.TB) *testRegistry {
	t.Helper()
	r, err := startedRegistry()
	if err != nil {
		testimage.Unavailable(t, err)
	}
	return r
}

func containerLabels(t *testing.T, d *Driver, c driver.Cookie) map[string]string {
	t.Helper()
	info, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return info.Config.Labels
}

func taskContainers(t *testing.T, d *Driver, taskID string) int {
	t.Helper()
	// The client negotiates its API version lazily, racing concurrent
	// callers; a Prepare refused before it reached the daemon left that
	// undone.
	// (A refused disk limit comes after the negotiation.)
	if err := d.ready(context.Background()); err != nil && !errors.Is(err, ErrDiskLimitUnsupported) {
		t.Fatal(err)
	}
	list, err := d.cli.ContainerList(context.Background(), container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", LabelTask+"="+taskID)),
	})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return len(list)
}

func TestConformance(t *testing.T) {
	image := testimage.Ensure(t)
	reg := needRegistry(t)
	d := newDriver(t, driver.Config{}, Options{DockerConfigDir: reg.ConfigDir})
	drivertest.Run(t, drivertest.Harness{
		Driver:       d,
		Image:        image,
		MissingImage: reg.Host + "/jetrun/missing:no-such-tag",
		Labels:       func(t *testing.T, c driver.Cookie) map[string]string { return containerLabels(t, d, c) },
		Containers:   func(t *testing.T, id string) int { return taskContainers(t, d, id) },
	})
}

func TestContainerSecurityDefaults(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(image, "true")
	task.MemoryLimit = 32 << 20
	task.MilliCPUs = 500
	task.LabelSet = map[string]string{"team": "a"}
	info := prepareAndInspect(t, d, task)

	hc := info.HostConfig
	if hc.NetworkMode != "none" || !info.Config.NetworkDisabled {
		t.Errorf("network mode %q (disabled %v), want none", hc.NetworkMode, info.Config.NetworkDisabled)
	}
	if !slices.Equal(hc.CapDrop, []string{"ALL"}) {
		t.Errorf("CapDrop = %q, want [ALL]", hc.CapDrop)
	}
	if !slices.Contains(hc.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("SecurityOpt = %q, want no-new-privileges", hc.SecurityOpt)
	}
	if hc.Memory != 32<<20 || hc.MemorySwap != 32<<20 {
		t.Errorf("memory %d swap %d, want both %d (no swap)", hc.Memory, hc.MemorySwap, 32<<20)
	}
	if hc.CPUPeriod != 100_000 || hc.CPUQuota != 50_000 {
		t.Errorf("CPU quota %d/%d, want 50000/100000 for 500 milli-CPUs", hc.CPUQuota, hc.CPUPeriod)
	}
	if hc.PidsLimit == nil || *hc.PidsLimit != driver.DefaultPidsLimit {
		t.Errorf("pids limit %v, want %d", hc.PidsLimit, driver.DefaultPidsLimit)
	}
	if hc.Init == nil || !*hc.Init {
		t.Error("no init process")
	}
	if hc.ReadonlyRootfs || info.Config.User != driver.DefaultUser {
		t.Errorf("read-only %v user %q, want the defaults (writable, %s)", hc.ReadonlyRootfs, info.Config.User, driver.DefaultUser)
	}
	if hc.CgroupnsMode != "private" {
		t.Errorf("cgroup namespace %q, want private", hc.CgroupnsMode)
	}
	if hc.LogConfig.Type != "none" || info.LogPath != "" {
		t.Errorf("log driver %q, log path %q: want none and no file", hc.LogConfig.Type, info.LogPath)
	}
	if len(hc.StorageOpt) != 0 {
		t.Errorf("storage options %v without a disk limit", hc.StorageOpt)
	}
	if info.Config.OpenStdin {
		t.Error("stdin open for a task without input")
	}
	want := map[string]string{"team": "a", LabelTask: task.ID, LabelWorker: testWorker}
	for k, v := range want {
		if info.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, info.Config.Labels[k], v)
		}
	}
}

func TestContainerHardenedConfig(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{ReadOnlyRootfs: true, TmpfsSize: 2 << 20, User: "1000:1000"}, Options{})
	task := drivertest.NewTask(image, "cat")
	task.Stdin = []byte("x")
	info := prepareAndInspect(t, d, task)
	if !info.HostConfig.ReadonlyRootfs || !strings.Contains(info.HostConfig.Tmpfs["/tmp"], "size=2097152") {
		t.Errorf("read-only %v tmpfs %v, want a read-only root with a 2 MiB tmpfs /tmp", info.HostConfig.ReadonlyRootfs, info.HostConfig.Tmpfs)
	}
	if info.Config.User != "1000:1000" {
		t.Errorf("user %q, want 1000:1000", info.Config.User)
	}
	if info.HostConfig.Memory != drivertest.DefaultMemory || info.HostConfig.NanoCPUs+info.HostConfig.CPUQuota == 0 {
		t.Errorf("memory %d, cpu quota %d: want the task's %d bytes and a quota", info.HostConfig.Memory, info.HostConfig.CPUQuota, drivertest.DefaultMemory)
	}
	if !info.Config.OpenStdin || !info.Config.StdinOnce {
		t.Error("stdin not open for a task with input")
	}

	// And it runs that way.
	task = drivertest.NewTask(image, "cat", ";", "pwd")
	task.Stdin = []byte("in\n")
	c := prepare(t, d, task)
	res, err := c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run: %v %v", res, err)
	}
	if got := string(task.Stdout()); got != "in\n/\n" {
		t.Errorf("stdout %q", got)
	}
}

// TestContainerUser runs the id step: the process runs as the configured
// user, a non-root one by default.
func TestContainerUser(t *testing.T) {
	image := testimage.Ensure(t)
	for _, tc := range []struct{ user, want string }{
		{"", "65534:65534"},
		{"1000:1000", "1000:1000"},
		{driver.UserImage, "0:0"}, // the test image sets no user
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			d := newDriver(t, driver.Config{User: tc.user}, Options{})
			task := drivertest.NewTask(image, "id")
			res, err := prepare(t, d, task).Run(context.Background())
			if err != nil || res.Status() != driver.StatusSuccess {
				t.Fatalf("Run: %v, %v", res, err)
			}
			if got := strings.TrimSpace(string(task.Stdout())); got != tc.want {
				t.Errorf("user %q: process runs as %q, want %q", tc.user, got, tc.want)
			}
		})
	}
}

// TestPrivateCgroupNamespace: the task sees its own cgroup as the root,
// not the host's hierarchy.
func TestPrivateCgroupNamespace(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(image, "readfile", "/proc/self/cgroup")
	c := prepare(t, d, task)
	if info, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id); err != nil || info.HostConfig.CgroupnsMode != "private" {
		t.Fatalf("inspect: cgroupns %q (%v), want private", info.HostConfig.CgroupnsMode, err)
	}
	res, err := c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run: %v, %v (stderr %q)", res, err, task.Stderr())
	}
	for line := range strings.Lines(string(task.Stdout())) {
		// hierarchy-ID:controllers:path; the path is the namespace's root.
		if parts := strings.SplitN(strings.TrimSpace(line), ":", 3); len(parts) != 3 || parts[2] != "/" {
			t.Errorf("/proc/self/cgroup line %q: want the path /, a private namespace", line)
		}
	}
}

// TestNoDaemonLogCopy: a task's output flood reaches the task's writers
// and nowhere else: the daemon keeps no log file of it.
func TestNoDaemonLogCopy(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(image, "write", "20")
	c := prepare(t, d, task)
	res, err := c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run: %v, %v", res, err)
	}
	if n := len(task.Stdout()); n != 20<<20 {
		t.Errorf("stdout %d bytes, want %d", n, 20<<20)
	}
	info, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
	if err != nil {
		t.Fatal(err)
	}
	if info.HostConfig.LogConfig.Type != "none" || info.LogPath != "" {
		t.Errorf("log driver %q, log file %q: the daemon keeps a copy of the output", info.HostConfig.LogConfig.Type, info.LogPath)
	}
}

// TestDiskLimit: a disk limit is refused, naming the setting, on a daemon
// whose storage driver cannot enforce it, and applied on one that can.
func TestDiskLimit(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{DiskLimit: 64 << 20}, Options{})
	info, err := d.cli.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	task := drivertest.NewTask(image, "true")
	c, err := d.Prepare(context.Background(), task)
	if err == nil {
		defer c.Close()
		ci, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
		if err != nil || ci.HostConfig.StorageOpt["size"] != strconv.Itoa(64<<20) {
			t.Errorf("storage options %v (%v), want size %d", ci.HostConfig.StorageOpt, err, 64<<20)
		}
		return
	}
	t.Logf("storage driver %s %v: %v", info.Driver, info.DriverStatus, err)
	if !driver.IsPermanent(err) || !errors.Is(err, ErrDiskLimitUnsupported) && !cerrdefs.IsInvalidArgument(err) {
		t.Errorf("Prepare with an unenforceable disk limit: %v; want a permanent ErrDiskLimitUnsupported", err)
	}
	if n := taskContainers(t, d, task.ID); n != 0 {
		t.Errorf("%d containers left", n)
	}
}

func prepare(t *testing.T, d *Driver, task *drivertest.Task) driver.Cookie {
	t.Helper()
	c, err := d.Prepare(context.Background(), task)
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

func prepareAndInspect(t *testing.T, d *Driver, task *drivertest.Task) container.InspectResponse {
	t.Helper()
	c := prepare(t, d, task)
	info, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return info
}

func TestPolicyRefusedAtPrepare(t *testing.T) {
	image := testimage.Ensure(t)
	root := t.TempDir()
	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{
		Images:      []string{"docker.io/library/jetrun-testee:*"},
		VolumeRoots: []string{root},
	}})
	for name, tc := range map[string]struct {
		mutate func(*drivertest.Task)
		want   error
	}{
		"no memory limit":       {func(tk *drivertest.Task) { tk.MemoryLimit = 0 }, ErrNoLimit},
		"no cpu limit":          {func(tk *drivertest.Task) { tk.MilliCPUs = 0 }, ErrNoLimit},
		"image not allowed":     {func(tk *drivertest.Task) { tk.Img = "example.com/other:1" }, ErrImageNotAllowed},
		"volume outside root":   {func(tk *drivertest.Task) { tk.Mounts = [][2]string{{root + "/../etc", "/x"}} }, ErrVolumeNotAllowed},
		"relative volume":       {func(tk *drivertest.Task) { tk.Mounts = [][2]string{{"data", "/x"}} }, ErrVolumeNotAllowed},
		"relative target":       {func(tk *drivertest.Task) { tk.Mounts = [][2]string{{root, "x"}} }, ErrVolumeNotAllowed},
		"invalid image":         {func(tk *drivertest.Task) { tk.Img = "UPPER/case::x" }, nil},
		"volume under root ok?": {func(tk *drivertest.Task) { tk.Mounts = [][2]string{{root, "/data"}} }, errOK},
	} {
		t.Run(name, func(t *testing.T) {
			task := drivertest.NewTask(image, "true")
			tc.mutate(task)
			c, err := d.Prepare(context.Background(), task)
			if tc.want == errOK {
				if err != nil {
					t.Fatalf("Prepare: %v", err)
				}
				c.Close()
				return
			}
			if err == nil {
				c.Close()
				t.Fatal("Prepare succeeded")
			}
			if !errors.Is(err, driver.ErrPermanent) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("Prepare error %v: want permanent %v", err, tc.want)
			}
			if n := taskContainers(t, d, task.ID); n != 0 {
				t.Errorf("%d containers left", n)
			}
		})
	}
}

var errOK = errors.New("no error")

// TestImageIDBypass performs the attack on --allowed-images
// 'docker.io/library/*': an image present on the host under a name the
// list refuses is named by its id, which normalises to
// docker.io/library/<hex>. Every form is refused; an allowed name still
// runs, from the image id the daemon resolved it to.
func TestImageIDBypass(t *testing.T) {
	base := testimage.Ensure(t)
	cli := testimage.Docker(t)
	forbidden := fmt.Sprintf("quay.io/forbidden/testee:%d", time.Now().UnixNano())
	buildImage(t, cli, forbidden, "FROM "+base+"\nLABEL jetrun.test=forbidden-"+forbidden+"\n", map[string][]byte{})
	t.Cleanup(func() { removeImage(t, cli, forbidden) })
	info, err := cli.ImageInspect(context.Background(), forbidden)
	if err != nil {
		t.Fatal(err)
	}
	hex := strings.TrimPrefix(info.ID, "sha256:")

	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{Images: []string{"docker.io/library/*"}}})
	for _, ref := range []string{hex[:12], hex[:8], info.ID, forbidden} {
		task := drivertest.NewTask(ref, "true")
		c, err := d.Prepare(context.Background(), task)
		if err == nil {
			c.Close()
			t.Errorf("Prepare(%q) of an image the allow-list refuses succeeded", ref)
			continue
		}
		if !driver.IsPermanent(err) || !errors.Is(err, ErrImageNotAllowed) {
			t.Errorf("Prepare(%q): %v; want a permanent ErrImageNotAllowed", ref, err)
		}
		if n := taskContainers(t, d, task.ID); n != 0 {
			t.Errorf("Prepare(%q) left %d containers", ref, n)
		}
	}

	allowed := drivertest.NewTask(base, "echo", "allowed")
	c := prepare(t, d, allowed)
	ci, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
	if err != nil {
		t.Fatal(err)
	}
	baseInfo, err := cli.ImageInspect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	if ci.Config.Image != baseInfo.ID {
		t.Errorf("container created from %q, want the resolved image id %s", ci.Config.Image, baseInfo.ID)
	}
	if res, err := c.Run(context.Background()); err != nil || res.Status() != driver.StatusSuccess || string(allowed.Stdout()) != "allowed\n" {
		t.Errorf("allowed image: %v, %v, stdout %q", res, err, allowed.Stdout())
	}

	// An explicit id pattern allows that id, and only by id.
	byID := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{Images: []string{info.ID}}})
	if c, err := byID.Prepare(context.Background(), drivertest.NewTask(info.ID, "true")); err != nil {
		t.Errorf("Prepare by an allowed id: %v", err)
	} else {
		c.Close()
	}
	if c, err := byID.Prepare(context.Background(), drivertest.NewTask(forbidden, "true")); err == nil {
		c.Close()
		t.Error("an id pattern allowed a name")
	}
}

func TestBindVolume(t *testing.T) {
	image := testimage.Ensure(t)
	root := t.TempDir()
	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{VolumeRoots: []string{root}}})
	task := drivertest.NewTask(image, "pwd")
	task.Mounts = [][2]string{{root, "/data"}}
	task.Dir = "/data"
	info := prepareAndInspect(t, d, task)
	if len(info.HostConfig.Mounts) != 1 || info.HostConfig.Mounts[0].Source != root || info.HostConfig.Mounts[0].Target != "/data" {
		t.Errorf("mounts %+v, want %s bound at /data", info.HostConfig.Mounts, root)
	}
}

// TestVolumeSymlinkEscape performs the attack on the volume allow-list: a
// link inside an allowed root that leads out of it (as a task with a
// writable volume can create) must not be mountable, nor a path whose
// resolution changed since it was handed over.
func TestVolumeSymlinkEscape(t *testing.T) {
	image := testimage.Ensure(t)
	root, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(root, "out")
	if err := os.Mkdir(out, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/", filepath.Join(out, "hostroot")); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{VolumeRoots: []string{root}}})

	swapped := filepath.Join(root, "swapped")
	if err := os.Symlink(outside, swapped); err != nil {
		t.Fatal(err)
	}
	for name, host := range map[string]string{
		"link to the host's root":      filepath.Join(out, "hostroot"),
		"path through that link":       filepath.Join(out, "hostroot", outside),
		"link replacing a checked dir": swapped, // as if resolved before the link appeared
	} {
		t.Run(name, func(t *testing.T) {
			task := drivertest.NewTask(image, "readfile", "/data/secret")
			task.Mounts = [][2]string{{host, "/data"}}
			c, err := d.Prepare(context.Background(), task)
			if err == nil {
				res, _ := c.Run(context.Background())
				c.Close()
				t.Fatalf("Prepare of %s succeeded; the task read %q (%v)", host, task.Stdout(), res)
			}
			if !driver.IsPermanent(err) || !errors.Is(err, ErrVolumeNotAllowed) {
				t.Errorf("Prepare: %v; want a permanent ErrVolumeNotAllowed", err)
			}
			if n := taskContainers(t, d, task.ID); n != 0 {
				t.Errorf("%d containers left", n)
			}
		})
	}
}

// TestVolumeModes: a volume is read-only unless the task asks for
// read-write.
func TestVolumeModes(t *testing.T) {
	image := testimage.Ensure(t)
	root := t.TempDir()
	if err := os.Chmod(root, 0o777); err != nil {
		t.Fatal(err)
	}
	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{VolumeRoots: []string{root}}})

	ro := drivertest.NewTask(image, "writefile", "/data/ro", "x")
	ro.Mounts = [][2]string{{root, "/data"}}
	res, err := prepare(t, d, ro).Run(context.Background())
	if err != nil || res.Status() != driver.StatusError || !strings.Contains(string(ro.Stderr()), "read-only file system") {
		t.Errorf("write to a default volume: %v, %v, stderr %q; want it refused as read-only", res, err, ro.Stderr())
	}
	if _, err := os.Stat(filepath.Join(root, "ro")); err == nil {
		t.Error("a default volume was written")
	}

	rw := drivertest.NewTask(image, "writefile", "/data/rw", "written")
	rw.Mounts, rw.RW = [][2]string{{root, "/data"}}, []bool{true}
	res, err = prepare(t, d, rw).Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("write to a rw volume: %v, %v, stderr %q", res, err, rw.Stderr())
	}
	if got, err := os.ReadFile(filepath.Join(root, "rw")); err != nil || string(got) != "written" {
		t.Errorf("host file %q (%v), want \"written\"", got, err)
	}
}

func TestStats(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(image, "alloc", "20", ";", "sleep", "3s")
	task.MemoryLimit = 64 << 20
	c := prepare(t, d, task)
	res, err := c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run: %v, %v", res, err)
	}
	stats := task.Stats()
	if len(stats) == 0 {
		t.Fatal("no stats for a task that ran 3 s")
	}
	last := stats[len(stats)-1]
	for _, k := range []string{driver.MetricCPUTotal, driver.MetricMemUsage, driver.MetricMemLimit, driver.MetricNetRx,
		driver.MetricNetTx, driver.MetricDiskRead, driver.MetricDiskWrite, driver.MetricPids} {
		if _, ok := last.Metrics[k]; !ok {
			t.Errorf("metric %s missing from %v", k, last.Metrics)
		}
	}
	if got := last.Metrics[driver.MetricMemLimit]; got != 64<<20 {
		t.Errorf("mem_limit %d, want %d", got, 64<<20)
	}
	var peak uint64 // the last sample may come as the task exits
	for _, s := range stats {
		peak = max(peak, s.Metrics[driver.MetricMemUsage])
	}
	if peak < 20<<20 || peak > 64<<20 {
		t.Errorf("peak mem_usage %d for a task holding 20 MiB under a 64 MiB limit", peak)
	}
	if last.Metrics[driver.MetricCPUTotal] == 0 || last.Metrics[driver.MetricPids] == 0 {
		t.Errorf("implausible sample: %v", last.Metrics)
	}
	if last.Timestamp.IsZero() {
		t.Error("sample without a timestamp")
	}
	t.Logf("%d samples, last %v", len(stats), last.Metrics)
}

// slowStats is a task whose WriteStat blocks for a long time.
type slowStats struct {
	*drivertest.Task
	calls atomic.Int64
}

func (s *slowStats) WriteStat(driver.Stat) {
	s.calls.Add(1)
	time.Sleep(1500 * time.Millisecond)
}

func TestSlowStatsConsumerDoesNotBlockOutput(t *testing.T) {
	image := testimage.Ensure(t)
	d := newDriver(t, driver.Config{}, Options{})
	task := &slowStats{Task: drivertest.NewTask(image, "sleep", "3s", ";", "write", "8", ";", "echo", "end")}
	c, err := d.Prepare(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	res, err := c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run: %v, %v", res, err)
	}
	if n := len(task.Stdout()); n != 8<<20+4 {
		t.Errorf("stdout %d bytes, want %d", n, 8<<20+4)
	}
	if task.calls.Load() == 0 {
		t.Error("WriteStat never called")
	}
}

// TestStartFailureIsTaskError: an image whose entrypoint does not exist
// is the task's problem, reported as a result, not an infrastructure error.
func TestStartFailureIsTaskError(t *testing.T) {
	base := testimage.Ensure(t)
	cli := testimage.Docker(t)
	ref := fmt.Sprintf("jetrun-testee-broken:%d", time.Now().UnixNano())
	buildImage(t, cli, ref, "FROM "+base+"\nENTRYPOINT [\"/no/such/binary\"]\n", map[string][]byte{})
	t.Cleanup(func() { removeImage(t, cli, ref) })
	d := newDriver(t, driver.Config{}, Options{})
	task := drivertest.NewTask(ref, "true")
	c := prepare(t, d, task)
	res, err := c.Run(context.Background())
	if err != nil {
		t.Fatalf("Run: infrastructure error %v; want a task result", err)
	}
	if res.Status() != driver.StatusError || res.ExitCode() != 127 || !driver.IsUserVisible(res.Unwrap()) {
		t.Errorf("result %q exit %d error %v; want error, 127 and a user-visible reason", res.Status(), res.ExitCode(), res.Unwrap())
	}
}

// TestVolumeBreaksStartIsTaskError performs the attacks of a volume the
// runtime cannot set up (over /proc, a directory where /etc/passwd must be
// a file): Run ends with a task result naming the cause, not an
// infrastructure error that would be retried.
func TestVolumeBreaksStartIsTaskError(t *testing.T) {
	image := testimage.Ensure(t)
	root := t.TempDir()
	d := newDriver(t, driver.Config{}, Options{Allow: driver.AllowList{VolumeRoots: []string{root}}})
	for _, target := range []string{"/proc", "/etc/passwd"} {
		t.Run(target, func(t *testing.T) {
			t.Parallel()
			task := drivertest.NewTask(image, "true")
			task.Mounts = [][2]string{{root, target}}
			res, err := prepare(t, d, task).Run(context.Background())
			if err != nil {
				t.Fatalf("Run: infrastructure error %v; want a task result", err)
			}
			if res.Status() != driver.StatusError || !driver.IsUserVisible(res.Unwrap()) || !strings.Contains(res.Error(), target) {
				t.Errorf("result %q exit %d error %q; want error, user visible, naming %s", res.Status(), res.ExitCode(), res.Error(), target)
			}
		})
	}
}

func TestContainerInitFailed(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{`failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: error mounting "/r" to rootfs at "/proc": "/m/proc" cannot be mounted because it is not of type proc: unknown`, true},
		{`failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to setup user: unable to find user 0: read /etc/passwd: is a directory: unknown`, true},
		{`OCI runtime create failed: container_linux.go:349: starting container process caused "process_linux.go:449: container init caused \"rootfs_linux.go:58: mounting ...\""`, true},
		{`failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/x: no space left on device: unknown`, false},
		{`failed to create shim task: connection error: desc = "transport: error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused": unavailable`, false},
		{`error during container init`, false}, // not from the OCI runtime
	} {
		if got := containerInitFailed(cerrdefs.ErrUnknown.WithMessage(tc.msg)); got != tc.want {
			t.Errorf("containerInitFailed(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
	if containerInitFailed(cerrdefs.ErrUnavailable.WithMessage("OCI runtime create failed: error during container init")) {
		t.Error("an unavailable daemon is the task's fault")
	}
}

func TestRemoveWorkerContainers(t *testing.T) {
	image := testimage.Ensure(t)
	worker := testWorker + "-crashed"
	d := newDriver(t, driver.Config{}, Options{WorkerID: worker})
	var cookies []driver.Cookie
	for range 2 {
		c, err := d.Prepare(context.Background(), drivertest.NewTask(image, "sleep", "1h"))
		if err != nil {
			t.Fatal(err)
		}
		cookies = append(cookies, c)
	}
	// One of them running, as after a crash mid-task.
	ran := make(chan error, 1)
	go func() {
		_, err := cookies[0].Run(context.Background())
		ran <- err
	}()
	waitRunning(t, d, cookies[0])
	n, err := d.RemoveWorkerContainers(context.Background(), worker)
	if err != nil || n != 2 {
		t.Fatalf("RemoveWorkerContainers = %d, %v; want 2, nil", n, err)
	}
	if n, err := d.RemoveWorkerContainers(context.Background(), worker); err != nil || n != 0 {
		t.Errorf("second RemoveWorkerContainers = %d, %v; want 0, nil", n, err)
	}
	select {
	case <-ran: // a result or an error: either way Run noticed
	case <-time.After(time.Minute):
		t.Fatal("Run did not return after its container was removed")
	}
	for _, c := range cookies {
		if err := c.Close(); err != nil {
			t.Errorf("Close of a removed container: %v", err)
		}
	}
	if _, err := d.RemoveWorkerContainers(context.Background(), ""); err == nil {
		t.Error("empty worker id accepted")
	}
}

func waitRunning(t *testing.T, d *Driver, c driver.Cookie) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := d.cli.ContainerInspect(context.Background(), c.(*cookie).id)
		if err == nil && info.State != nil && info.State.Running {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("container not running after 30s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDaemonUnreachable(t *testing.T) {
	d, err := New(driver.Config{DockerHost: "unix:///nonexistent/jetrun/docker.sock"}, Options{WorkerID: "w"})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if d.IsAlive(ctx) {
		t.Error("IsAlive true without a daemon")
	}
	_, err = d.Prepare(ctx, drivertest.NewTask("jetrun-testee:any", "true"))
	if !driver.IsTransient(err) {
		t.Errorf("Prepare without a daemon: %v; want a transient error", err)
	}
	if _, err := d.RemoveWorkerContainers(ctx, "w"); !driver.IsTransient(err) {
		t.Errorf("RemoveWorkerContainers without a daemon: %v; want a transient error", err)
	}
}

func TestIsAlive(t *testing.T) {
	d := newDriver(t, driver.Config{}, Options{})
	if !d.IsAlive(context.Background()) {
		t.Error("IsAlive false with a running daemon")
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(driver.Config{}, Options{}); !errors.Is(err, driver.ErrInvalidConfig) {
		t.Errorf("New without worker id: %v", err)
	}
	if _, err := New(driver.Config{PidsLimit: -1}, Options{WorkerID: "w"}); !errors.Is(err, driver.ErrInvalidConfig) {
		t.Errorf("New with a negative pids limit: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err       error
		transient bool
	}{
		{cerrdefs.ErrNotFound, false},
		{cerrdefs.ErrUnauthenticated, false},
		{cerrdefs.ErrPermissionDenied, false},
		{cerrdefs.ErrInvalidArgument, false},
		{cerrdefs.ErrConflict, false},
		{cerrdefs.ErrUnavailable, true},
		{cerrdefs.ErrInternal, true},
		{cerrdefs.ErrResourceExhausted, true},
		{context.DeadlineExceeded, true},
		{io.ErrUnexpectedEOF, true},
	} {
		got := classify(fmt.Errorf("wrapped: %w", tc.err))
		if driver.IsTransient(got) != tc.transient || errors.Is(got, driver.ErrPermanent) == tc.transient {
			t.Errorf("classify(%v): transient %v, want %v", tc.err, driver.IsTransient(got), tc.transient)
		}
		if !errors.Is(got, tc.err) {
			t.Errorf("classify(%v) lost the original error", tc.err)
		}
	}
	if classify(nil) != nil {
		t.Error("classify(nil) != nil")
	}
}
