package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/docker/docker/api/types/registry"
)

func writeConfig(t *testing.T, cfg string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func decodeAuth(t *testing.T, enc string) registry.AuthConfig {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("auth header %q: %v", enc, err)
	}
	var a registry.AuthConfig
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRegistryAuthFromConfigFile(t *testing.T) {
	basic := base64.StdEncoding.EncodeToString([]byte("alice:pa:ss"))
	dir := writeConfig(t, `{"auths": {
		"https://index.docker.io/v1/": {"auth": "`+basic+`"},
		"http://127.0.0.1:5000": {"username": "bob", "password": "pw"},
		"registry.example.com/ignored/path": {"identitytoken": "tok"},
		"empty.example.com": {}
	}}`)
	for _, tc := range []struct {
		host              string
		user, pass, token string
		server            string
		none              bool
	}{
		{host: "docker.io", user: "alice", pass: "pa:ss", server: dockerHubKey},
		{host: "127.0.0.1:5000", user: "bob", pass: "pw", server: "127.0.0.1:5000"},
		{host: "REGISTRY.example.com", token: "tok", server: "REGISTRY.example.com"},
		{host: "empty.example.com", none: true},
		{host: "other.example.com", none: true},
	} {
		enc, err := registryAuth(context.Background(), dir, tc.host)
		if err != nil {
			t.Fatalf("%s: %v", tc.host, err)
		}
		if tc.none {
			if enc != "" {
				t.Errorf("%s: credentials %q, want none", tc.host, enc)
			}
			continue
		}
		a := decodeAuth(t, enc)
		if a.Username != tc.user || a.Password != tc.pass || a.IdentityToken != tc.token || a.ServerAddress != tc.server {
			t.Errorf("%s: got %+v", tc.host, a)
		}
	}
}

func TestRegistryAuthMissingOrBrokenFile(t *testing.T) {
	if enc, err := registryAuth(context.Background(), t.TempDir(), "docker.io"); enc != "" || err != nil {
		t.Errorf("no config file: %q, %v; want no credentials and no error", enc, err)
	}
	if _, err := registryAuth(context.Background(), writeConfig(t, `{not json`), "docker.io"); err == nil {
		t.Error("broken config file accepted")
	}
	if _, err := registryAuth(context.Background(), writeConfig(t, `{"auths": {"docker.io": {"auth": "!!"}}}`), "docker.io"); err == nil {
		t.Error("non-base64 auth accepted")
	}
}

func TestRegistryAuthCredentialHelper(t *testing.T) {
	bin := t.TempDir()
	helper := `#!/bin/sh
read server
case "$server" in
  registry.example.com) echo '{"ServerURL":"registry.example.com","Username":"carol","Secret":"s3"}' ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-jetruntest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := writeConfig(t, `{"credHelpers": {"registry.example.com": "jetruntest"}, "credsStore": "jetruntest"}`)

	enc, err := registryAuth(context.Background(), dir, "registry.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if a := decodeAuth(t, enc); a.Username != "carol" || a.Password != "s3" {
		t.Errorf("helper credentials: %+v", a)
	}
	if enc, err := registryAuth(context.Background(), dir, "unknown.example.com"); enc != "" || err != nil {
		t.Errorf("store without credentials: %q, %v; want none", enc, err)
	}
	missing := writeConfig(t, `{"credsStore": "jetrun-no-such-helper"}`)
	if _, err := registryAuth(context.Background(), missing, "docker.io"); err == nil {
		t.Error("missing credential helper gave no error")
	}
}

func TestConfigDir(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", "/etc/from-env")
	if got := configDir("/explicit"); got != "/explicit" {
		t.Errorf("configDir(explicit) = %q", got)
	}
	if got := configDir(""); got != "/etc/from-env" {
		t.Errorf("configDir with DOCKER_CONFIG = %q", got)
	}
	t.Setenv("DOCKER_CONFIG", "")
	t.Setenv("HOME", "/home/x")
	if got := configDir(""); got != "/home/x/.docker" {
		t.Errorf("configDir default = %q", got)
	}
}
