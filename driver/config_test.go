package driver

import (
	"errors"
	"strings"
	"testing"
)

func TestConfigWithDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.DefaultMemory != DefaultMemory || c.MaxMemory != DefaultMaxMemory || c.DefaultCPUs != DefaultCPUs ||
		c.PidsLimit != DefaultPidsLimit || c.NetworkMode != "none" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.AllowedVolumeRoots) != 0 {
		t.Fatalf("default allows volumes under %v, want none", c.AllowedVolumeRoots)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// Set fields are kept.
	set := Config{DefaultMemory: 1 << 20, MaxMemory: 2 << 20, DefaultCPUs: 500, PidsLimit: 10, NetworkMode: "bridge", User: "1000"}
	if got := set.WithDefaults(); got.DefaultMemory != 1<<20 || got.MaxMemory != 2<<20 || got.DefaultCPUs != 500 ||
		got.PidsLimit != 10 || got.NetworkMode != "bridge" || got.User != "1000" {
		t.Fatalf("WithDefaults overwrote set fields: %+v", got)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mod     func(*Config)
		wantErr string
	}{
		{"default above max", func(c *Config) { c.DefaultMemory, c.MaxMemory = 2<<30, 1<<30 }, "default_memory"},
		{"negative pids", func(c *Config) { c.PidsLimit = -1 }, "pids_limit"},
		{"relative volume root", func(c *Config) { c.AllowedVolumeRoots = []string{"data"} }, "allowed_volume_roots"},
		{"bad image pattern", func(c *Config) { c.AllowedImages = []string{"docker.io/[abc"} }, "allowed_images"},
		{"empty network", func(c *Config) { c.NetworkMode = "" }, "network_mode"},
	} {
		c := Config{}.WithDefaults()
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %q does not name %s", tc.name, err, tc.wantErr)
		}
	}
}

func TestConfigVolumeAllowed(t *testing.T) {
	c := Config{AllowedVolumeRoots: []string{"/data", "/srv/jobs/"}}
	for p, want := range map[string]bool{
		"/data":              true,
		"/data/x":            true,
		"/data/x/../y":       true,
		"/srv/jobs/a":        true,
		"/srv/jobs":          true,
		"/database":          false, // a prefix of the string, not of the path
		"/data/../etc":       false,
		"/data/../../etc":    false,
		"/etc/passwd":        false,
		"data/x":             false, // relative
		"":                   false,
		"/srv/jobs/../other": false,
	} {
		if got := c.VolumeAllowed(p); got != want {
			t.Errorf("VolumeAllowed(%q) = %v, want %v", p, got, want)
		}
	}
	if (Config{}).VolumeAllowed("/data") {
		t.Error("the zero Config allows a volume; by default none is allowed")
	}
	if !(Config{AllowedVolumeRoots: []string{"/"}}).VolumeAllowed("/anything") {
		t.Error(`root "/" should allow every absolute path`)
	}
}

func TestConfigImageAllowed(t *testing.T) {
	any := Config{}
	if !any.ImageAllowed("busybox") || !any.ImageAllowed("localhost:5000/x:1") {
		t.Error("an empty allow-list should allow any valid image")
	}
	if any.ImageAllowed("Not/Valid") {
		t.Error("an invalid reference was allowed")
	}
	c := Config{AllowedImages: []string{"docker.io/library/busybox:*", "localhost:5000/team/*"}}
	for img, want := range map[string]bool{
		"busybox":                      true, // normalised to docker.io/library/busybox:latest
		"busybox:1.36":                 true,
		"docker.io/library/busybox":    true,
		"alpine":                       false,
		"localhost:5000/team/app:v1":   true,
		"localhost:5000/team/app":      true,
		"localhost:5000/team/a/b:1":    false, // * does not cross /
		"localhost:5000/other/app":     false,
		"evil.example/library/busybox": false,
	} {
		if got := c.ImageAllowed(img); got != want {
			t.Errorf("ImageAllowed(%q) = %v, want %v", img, got, want)
		}
	}
}
