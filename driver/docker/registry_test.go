package docker

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Credentials of the test registry.
const (
	registryUser     = "jetrun"
	registryPassword = "s3cret-for-tests"
)

// testRegistry is Debian's docker-registry serving on a loopback port
// (Docker trusts 127.0.0.0/8 registries without TLS), with htpasswd auth
// and its storage in a temporary directory.
type testRegistry struct {
	Host      string // "127.0.0.1:port"
	ConfigDir string // a Docker config dir holding the registry's credentials
	dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
}

var sharedRegistry struct {
	once sync.Once
	reg  *testRegistry
	err  error
}

// startedRegistry starts the shared test registry on first use; TestMain
// stops it.
func startedRegistry() (*testRegistry, error) {
	sharedRegistry.once.Do(func() {
		sharedRegistry.reg, sharedRegistry.err = startRegistry()
	})
	return sharedRegistry.reg, sharedRegistry.err
}

func stopSharedRegistry() {
	if sharedRegistry.reg != nil {
		sharedRegistry.reg.stop()
	}
}

func startRegistry() (*testRegistry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry is not installed (apt-get install docker-registry): %w", err)
	}
	dir, err := os.MkdirTemp("", "jetrun-registry-")
	if err != nil {
		return nil, err
	}
	r := &testRegistry{dir: dir, ConfigDir: filepath.Join(dir, "docker-config"), exited: make(chan struct{})}
	fail := func(err error) (*testRegistry, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(registryPassword), bcrypt.MinCost)
	if err != nil {
		return fail(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), fmt.Appendf(nil, "%s:%s\n", registryUser, hash), 0o600); err != nil {
		return fail(err)
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	r.Host = fmt.Sprintf("127.0.0.1:%d", port)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
auth:
  htpasswd:
    realm: jetrun-test
    path: %s
`, filepath.Join(dir, "storage"), r.Host, filepath.Join(dir, "htpasswd"))
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(r.ConfigDir, 0o700); err != nil {
		return fail(err)
	}
	dockerConfig := fmt.Sprintf(`{"auths": {"http://%s": {"username": %q, "password": %q}}}`, r.Host, registryUser, registryPassword)
	if err := os.WriteFile(filepath.Join(r.ConfigDir, "config.json"), []byte(dockerConfig), 0o600); err != nil {
		return fail(err)
	}

	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return fail(err)
	}
	r.cmd = exec.Command(bin, "serve", configPath)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		logFile.Close()
		return fail(fmt.Errorf("start docker-registry: %w", err))
	}
	go func() {
		r.cmd.Wait()
		logFile.Close()
		close(r.exited)
	}()

	// Ready when /v2/ answers (401: it wants credentials).
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Host+"/v2/", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			return r, nil
		}
		select {
		case <-r.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			os.RemoveAll(dir)
			return nil, fmt.Errorf("docker-registry exited at start: %s", log)
		default:
		}
		if time.Now().After(deadline) {
			r.stop()
			return nil, fmt.Errorf("docker-registry on %s not ready within 30s: %w", r.Host, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (r *testRegistry) stop() {
	r.cmd.Process.Kill()
	<-r.exited
	os.RemoveAll(r.dir)
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
