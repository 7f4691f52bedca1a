package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/internal/testimage"
)

// blobSize is the size of the random layer of a pushed image, so that a
// pull has something to download.
const blobSize = 16 << 20

// pushImage builds an image from the testee image plus a layer of random
// bytes, pushes it to reg with credentials and removes it locally, so the
// next use has to pull it. It returns the registry reference.
func pushImage(t *testing.T, cli *client.Client, reg *testRegistry, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var nonce [6]byte
	rand.Read(nonce[:])
	ref := fmt.Sprintf("%s/jetrun/pulltest:%s", reg.Host, hex.EncodeToString(nonce[:]))

	blob := make([]byte, blobSize)
	rand.Read(blob)
	buildImage(t, cli, ref, fmt.Sprintf("FROM %s\nCOPY blob /blob\n", base), map[string][]byte{"blob": blob})

	auth, err := registry.EncodeAuthConfig(registry.AuthConfig{Username: registryUser, Password: registryPassword, ServerAddress: reg.Host})
	if err != nil {
		t.Fatal(err)
	}
	body, err := cli.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: auth})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(body, io.Discard, 0, false, nil)
	body.Close()
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	removeImage(t, cli, ref)
	t.Cleanup(func() { removeImage(t, cli, ref) })
	return ref
}

// buildImage builds dockerfile with files as its context and tags it ref.
func buildImage(t *testing.T, cli *client.Client, ref, dockerfile string, files map[string][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files["Dockerfile"] = []byte(dockerfile)
	for name, data := range files {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data))})
		tw.Write(data)
	}
	tw.Close()
	resp, err := cli.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{ref}, Remove: true, ForceRemove: true})
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
	err = jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("build %s: %v", ref, err)
	}
}

func removeImage(t *testing.T, cli *client.Client, ref string) {
	t.Helper()
	_, err := cli.ImageRemove(context.Background(), ref, image.RemoveOptions{Force: true, PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Errorf("remove image %s: %v", ref, err)
	}
}

// reportingTask is a task that runs a hook on each pull progress report.
type reportingTask struct {
	*drivertest.Task
	onProgress func(driver.PullProgress)
}

func (r *reportingTask) PullProgress(p driver.PullProgress) {
	r.Task.PullProgress(p)
	if r.onProgress != nil {
		r.onProgress(p)
	}
}

// TestPullSharedWithProgress pulls an image from a registry with
// credentials from the Docker config file: three Prepares share one
// download, the first gives up halfway without failing the others, and
// progress reaches the tasks.
func TestPullSharedWithProgress(t *testing.T) {
	base := testimage.Ensure(t)
	reg := needRegistry(t)
	cli := testimage.Docker(t)
	ref := pushImage(t, cli, reg, base)
	d := newDriver(t, driver.Config{}, Options{DockerConfigDir: reg.ConfigDir})

	type outcome struct {
		task *drivertest.Task
		c    driver.Cookie
		err  error
	}
	results := make(chan outcome, 3)
	prepare := func(ctx context.Context, task driver.ContainerTask, dt *drivertest.Task) {
		c, err := d.Prepare(ctx, task)
		results <- outcome{dt, c, err}
	}

	first := drivertest.NewTask(ref, "echo", "pulled")
	others := []*drivertest.Task{drivertest.NewTask(ref, "echo", "pulled"), drivertest.NewTask(ref, "echo", "pulled")}
	firstCtx, giveUp := context.WithCancelCause(context.Background())
	defer giveUp(nil)
	var once sync.Once
	reporter := &reportingTask{Task: first, onProgress: func(driver.PullProgress) {
		once.Do(func() {
			// The download is under way: the others join it, and the
			// first caller gives up.
			for _, o := range others {
				go prepare(context.Background(), o, o)
			}
			giveUp(errors.New("caller gave up"))
		})
	}}
	go prepare(firstCtx, reporter, first)

	got := map[*drivertest.Task]outcome{}
	for range 3 {
		select {
		case o := <-results:
			got[o.task] = o
			if o.c != nil {
				t.Cleanup(func() { o.c.Close() })
			}
		case <-time.After(2 * time.Minute):
			t.Fatalf("Prepares did not finish; got %d of 3", len(got))
		}
	}
	if o := got[first]; o.err != nil && !driver.IsTransient(o.err) {
		t.Errorf("the caller that gave up: %v; want success or a transient error", o.err)
	}
	for i, o := range others {
		if got[o].err != nil {
			t.Fatalf("Prepare #%d failed after another caller gave up: %v", i+2, got[o].err)
		}
	}
	if n := d.pullCount.Load(); n != 1 {
		t.Errorf("%d downloads for one image, want 1 shared", n)
	}

	reports := first.Pulls()
	if len(reports) == 0 || reports[0].Total <= 0 || reports[0].Done > reports[0].Total || reports[0].Image != ref {
		t.Fatalf("first progress report %+v, want bytes done/total of %s", reports, ref)
	}
	for _, o := range others {
		if r := o.Pulls(); len(r) > 0 {
			last := r[len(r)-1]
			if last.Done != last.Total || last.Total < blobSize/2 {
				t.Errorf("last progress report %+v, want done == total covering the %d byte layer", last, blobSize)
			}
		}
	}
	t.Logf("progress reports: first %d, others %d and %d", len(reports), len(others[0].Pulls()), len(others[1].Pulls()))

	res, err := got[others[0]].c.Run(context.Background())
	if err != nil || res.Status() != driver.StatusSuccess {
		t.Fatalf("Run of the pulled image: %v, %v", res, err)
	}
	if out := string(others[0].Stdout()); out != "pulled\n" {
		t.Errorf("stdout %q", out)
	}
}

func TestPullFailures(t *testing.T) {
	base := testimage.Ensure(t)
	reg := needRegistry(t)
	cli := testimage.Docker(t)
	ref := pushImage(t, cli, reg, base)
	withCreds := newDriver(t, driver.Config{}, Options{DockerConfigDir: reg.ConfigDir})
	noCreds := newDriver(t, driver.Config{}, Options{})
	wrongDir := t.TempDir()
	wrong := fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Host, base64.StdEncoding.EncodeToString([]byte(registryUser+":wrong")))
	if err := os.WriteFile(filepath.Join(wrongDir, "config.json"), []byte(wrong), 0o600); err != nil {
		t.Fatal(err)
	}
	wrongCreds := newDriver(t, driver.Config{}, Options{DockerConfigDir: wrongDir})
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}

	// Docker 20.10 (API 1.41) answers a registry's 401 with an untyped
	// HTTP 500, so authorization failures cannot be told from a daemon
	// fault by type there: they are classified transient (the worker's
	// retries are bounded). Newer daemons type them, and classify then
	// makes them permanent (see TestClassify).
	const eitherClass = -1
	for _, tc := range []struct {
		name      string
		d         *Driver
		image     string
		transient int // 1 transient, 0 permanent, eitherClass
	}{
		{"missing tag", withCreds, reg.Host + "/jetrun/pulltest:no-such-tag", 0},
		{"missing repository", withCreds, reg.Host + "/jetrun/no-such-repo:v1", 0},
		{"no credentials", noCreds, ref, eitherClass},
		{"wrong credentials", wrongCreds, ref, eitherClass},
		{"registry down", withCreds, fmt.Sprintf("127.0.0.1:%d/jetrun/pulltest:v1", port), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := drivertest.NewTask(tc.image, "true")
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			c, err := tc.d.Prepare(ctx, task)
			if err == nil {
				c.Close()
				t.Fatal("Prepare succeeded")
			}
			transient, permanent := driver.IsTransient(err), errors.Is(err, driver.ErrPermanent)
			if transient == permanent {
				t.Errorf("Prepare: %v; want it classified transient or permanent", err)
			}
			if tc.transient != eitherClass && transient != (tc.transient == 1) {
				t.Errorf("Prepare: %v; want transient=%v", err, tc.transient == 1)
			}
			if !errors.Is(err, driver.ErrImageUnavailable) || !strings.Contains(err.Error(), tc.image) {
				t.Errorf("Prepare: %v; want driver.ErrImageUnavailable naming %s", err, tc.image)
			}
			if n := taskContainers(t, tc.d, task.ID); n != 0 {
				t.Errorf("%d containers left after a failed Prepare", n)
			}
			t.Logf("error: %v", err)
		})
	}
}

// A registry host that does not resolve is a mistyped image, not an
// outage: the daemon reports it as a plain 500, so it is told by its text.
func TestUnresolvableRegistryIsPermanent(t *testing.T) {
	daemonErr := errors.New(`Error response from daemon: Get "https://no-such.example/v2/": dial tcp: lookup no-such.example on 10.0.0.53:53: no such host`)
	if !unresolvable(fmt.Errorf("pull image %q: %w", "no-such.example/x", daemonErr)) {
		t.Error("a DNS failure of the registry host is not recognised")
	}
	if unresolvable(errors.New("dial tcp 127.0.0.1:5999: connect: connection refused")) {
		t.Error("a refused connection was taken for a name that does not resolve")
	}
}
