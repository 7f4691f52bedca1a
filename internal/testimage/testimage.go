// Package testimage builds jetrun's test image: a FROM scratch image whose
// entrypoint is the static testee binary (see package testee for the step
// language its argv speaks) and whose default command is "true".
//
// The image is built locally through the Docker API (no registry is
// needed) and tagged with a hash of its content, "jetrun-testee:<hash>",
// so a build is skipped when the image already exists. Tests call Ensure;
// tools and benchmarks call Build.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/jsonmessage"
)

// Repository is the name every test image is tagged with.
const Repository = "jetrun-testee"

// RequireDockerEnv names the environment variable that, set to a non-empty
// value, turns "Docker is unavailable" from a skipped test into a failed one.
const RequireDockerEnv = "JETRUN_REQUIRE_DOCKER"

// testeePackage is the import path of the image's entrypoint.
const testeePackage = "github.com/jetrun/jetrun/internal/testimage/testee/cmd/testee"

const dockerfile = `FROM scratch
COPY testee /testee
ENTRYPOINT ["/testee"]
CMD ["true"]
`

// NewClient returns a Docker client configured from the environment
// (DOCKER_HOST and friends) that negotiates the API version with the
// daemon.
func NewClient() (*client.Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	return cli, nil
}

// Build compiles the testee as a static binary with the go tool, builds the
// image from it and tags it "jetrun-testee:<content hash>" plus every tag
// in extraTags (e.g. "jetrun-testee:latest"). It returns the content-hash
// reference. When that image exists already, only the extra tags are set.
// Build must run inside the jetrun module (the go tool resolves the testee's
// package from the working directory).
func Build(ctx context.Context, cli client.APIClient, extraTags ...string) (string, error) {
	dir, err := os.MkdirTemp("", "jetrun-testee-")
	if err != nil {
		return "", fmt.Errorf("build test image: %w", err)
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "testee")
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("build test image: go tool not found: %w", err)
	}
	cmd := exec.CommandContext(ctx, goTool, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", bin, testeePackage)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test image: go build %s: %w\n%s", testeePackage, err, out)
	}
	binary, err := os.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("build test image: %w", err)
	}

	sum := sha256.New()
	sum.Write([]byte(dockerfile))
	sum.Write(binary)
	ref := Repository + ":" + hex.EncodeToString(sum.Sum(nil))[:16]

	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		for _, tag := range extraTags {
			if err := cli.ImageTag(ctx, ref, tag); err != nil {
				return "", fmt.Errorf("tag test image %s as %s: %w", ref, tag, err)
			}
		}
		return ref, nil
	} else if !cerrdefs.IsNotFound(err) {
		return "", fmt.Errorf("inspect test image %s: %w", ref, err)
	}

	buildContext, err := tarContext(binary)
	if err != nil {
		return "", fmt.Errorf("build test image: %w", err)
	}
	resp, err := cli.ImageBuild(ctx, buildContext, build.ImageBuildOptions{
		Tags:        append([]string{ref}, extraTags...),
		Remove:      true,
		ForceRemove: true,
		Labels:      map[string]string{"org.opencontainers.image.title": Repository},
	})
	if err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	defer resp.Body.Close()
	// The build reports failures inside its progress stream.
	if err := jsonmessage.DisplayJSONMessagesStream(resp.Body, io.Discard, 0, false, nil); err != nil {
		return "", fmt.Errorf("build test image %s: %w", ref, err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return "", fmt.Errorf("build test image %s: image missing after build: %w", ref, err)
	}
	return ref, nil
}

// tarContext returns a build context holding the Dockerfile and the binary.
func tarContext(binary []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte(dockerfile)},
		{"testee", 0o755, binary},
	}
	for _, f := range files {
		hdr := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: time.Unix(0, 0)}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return &buf, nil
}

// Docker returns a client for the local daemon after checking that it
// answers. When it does not, the test is skipped with the reason, or fails
// when JETRUN_REQUIRE_DOCKER is set. The client is closed when the test
// ends.
func Docker(t testing.TB) *client.Client {
	t.Helper()
	cli, err := NewClient()
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var ping types.Ping
		if ping, err = cli.Ping(ctx); err != nil {
			cli.Close()
		} else {
			// Settle the API version now: the client's lazy negotiation
			// races with concurrent requests.
			cli.NegotiateAPIVersionPing(ping)
		}
	}
	if err != nil {
		Unavailable(t, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Unavailable ends the test because Docker cannot be used: a skip with a
// clear message, or a failure when JETRUN_REQUIRE_DOCKER is set.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv(RequireDockerEnv) != "" {
		t.Fatalf("Docker is required (%s is set) but unavailable: %v", RequireDockerEnv, err)
	}
	t.Skipf("skipping: Docker is unavailable (%v); set %s=1 to make this a failure", err, RequireDockerEnv)
}

var ensure struct {
	once sync.Once
	ref  string
	err  error
}

// Ensure builds the test image once per test process and returns its
// reference. Without a Docker daemon the test is skipped (or fails, see
// Docker); a failed build fails the test.
func Ensure(t testing.TB) string {
	t.Helper()
	cli := Docker(t)
	ensure.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ensure.ref, ensure.err = Build(ctx, cli)
	})
	if ensure.err != nil {
		if errors.Is(ensure.err, exec.ErrNotFound) {
			Unavailable(t, ensure.err)
		}
		t.Fatalf("test image: %v", ensure.err)
	}
	return ensure.ref
}
