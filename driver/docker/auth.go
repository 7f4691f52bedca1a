package docker

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/docker/docker/api/types/registry"
)

// dockerHubKey is the key Docker's config file uses for Docker Hub.
const dockerHubKey = "https://index.docker.io/v1/"

// configFile is the part of Docker's config.json the driver reads.
type configFile struct {
	Auths       map[string]configAuth `json:"auths"`
	CredsStore  string                `json:"credsStore"`
	CredHelpers map[string]string     `json:"credHelpers"`
}

type configAuth struct {
	Auth          string `json:"auth"` // base64("user:password")
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
}

// configDir returns the directory of Docker's config file: dir when set,
// else $DOCKER_CONFIG, else ~/.docker.
func configDir(dir string) string {
	if dir != "" {
		return dir
	}
	if d := os.Getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".docker")
}

// registryAuth returns the encoded credentials for host (as given by
// driver.ParseImage, e.g. "docker.io" or "127.0.0.1:5000") read from the
// Docker config file in dir, "" when there are none. The file is read on
// every call, so edits apply without a restart.
func registryAuth(ctx context.Context, dir, host string) (string, error) {
	if dir == "" {
		return "", nil
	}
	path := filepath.Join(dir, "config.json")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read docker config: %w", err)
	}
	var cfg configFile
	if err := json.Unmarshal(data, &cfg); err != nil {
		return "", fmt.Errorf("docker config %s: %w", path, err)
	}
	auth, found, err := cfg.lookup(ctx, host)
	if err != nil || !found {
		return "", err
	}
	enc, err := registry.EncodeAuthConfig(auth)
	if err != nil {
		return "", fmt.Errorf("encode credentials for %s: %w", host, err)
	}
	return enc, nil
}

// lookup finds the credentials for host: a credential helper named for the
// registry, else the "auths" entry, else the default credential store.
func (c *configFile) lookup(ctx context.Context, host string) (registry.AuthConfig, bool, error) {
	server := serverAddress(host)
	for key, helper := range c.CredHelpers {
		if normalizeHost(key) == normalizeHost(host) {
			return credentialHelper(ctx, helper, server)
		}
	}
	for key, a := range c.Auths {
		if normalizeHost(key) != normalizeHost(host) {
			continue
		}
		auth := registry.AuthConfig{
			Username:      a.Username,
			Password:      a.Password,
			IdentityToken: a.IdentityToken,
			ServerAddress: server,
		}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			if err != nil {
				return registry.AuthConfig{}, false, fmt.Errorf("docker config: auths[%q].auth is not base64: %w", key, err)
			}
			user, pass, ok := strings.Cut(string(raw), ":")
			if !ok {
				return registry.AuthConfig{}, false, fmt.Errorf("docker config: auths[%q].auth is not user:password", key)
			}
			auth.Username, auth.Password = user, pass
		}
		if auth.Username == "" && auth.Password == "" && auth.IdentityToken == "" {
			// An empty entry, as left by a credential store login.
			break
		}
		return auth, true, nil
	}
	if c.CredsStore != "" {
		return credentialHelper(ctx, c.CredsStore, server)
	}
	return registry.AuthConfig{}, false, nil
}

// credentialHelper asks docker-credential-<helper> for server's
// credentials. A helper that knows none gives found == false.
func credentialHelper(ctx context.Context, helper, server string) (registry.AuthConfig, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker-credential-"+helper, "get")
	cmd.Stdin = strings.NewReader(server)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stdout.String() + stderr.String())
		if strings.Contains(msg, "credentials not found") {
			// The helper protocol's fixed answer for "none stored".
			return registry.AuthConfig{}, false, nil
		}
		return registry.AuthConfig{}, false, fmt.Errorf("credential helper %s for %s: %w: %s", helper, server, err, msg)
	}
	var creds struct{ Username, Secret string }
	if err := json.Unmarshal(stdout.Bytes(), &creds); err != nil {
		return registry.AuthConfig{}, false, fmt.Errorf("credential helper %s for %s: bad answer: %w", helper, server, err)
	}
	auth := registry.AuthConfig{ServerAddress: server}
	if creds.Username == "<token>" {
		auth.IdentityToken = creds.Secret
	} else {
		auth.Username, auth.Password = creds.Username, creds.Secret
	}
	return auth, true, nil
}

// serverAddress is the address Docker uses for host's credentials.
func serverAddress(host string) string {
	if normalizeHost(host) == "docker.io" {
		return dockerHubKey
	}
	return host
}

// normalizeHost reduces a config key ("https://index.docker.io/v1/",
// "http://127.0.0.1:5000", "registry.example.com") to a host, and every
// name of Docker Hub to "docker.io".
func normalizeHost(key string) string {
	h := key
	if i := strings.Index(h, "://"); i >= 0 {
		h = h[i+3:]
	}
	h, _, _ = strings.Cut(h, "/")
	h = strings.ToLower(h)
	switch h {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return h
}
