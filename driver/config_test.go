package driver

import (
	"errors"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/imageref"
)

func TestConfigWithDefaults(t *testing.T) {
	c := Config{}.WithDefaults()
	if c.PidsLimit != DefaultPidsLimit || c.NetworkMode != "none" || c.ReadOnlyRootfs || c.User != DefaultUser ||
		c.CgroupNamespace != "private" || c.TmpfsSize != DefaultTmpfsSize || c.DiskLimit != 0 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
	// Set fields are kept.
	set := Config{PidsLimit: 10, NetworkMode: "bridge", User: "1000"}
	if got := set.WithDefaults(); got.PidsLimit != 10 || got.NetworkMode != "bridge" || got.User != "1000" {
		t.Fatalf("WithDefaults overwrote set fields: %+v", got)
	}
	if u := (Config{User: UserImage}).WithDefaults().ContainerUser(); u != "" {
		t.Errorf("ContainerUser of %q = %q, want the image's (empty)", UserImage, u)
	}
	if u := c.ContainerUser(); u != DefaultUser {
		t.Errorf("default ContainerUser = %q, want %q", u, DefaultUser)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		wantErr string
	}{
		{"negative pids", Config{PidsLimit: -1, NetworkMode: "none"}.Validate(), "pids_limit"},
		{"empty network", Config{PidsLimit: 1}.Validate(), "network_mode"},
		{"empty user", Config{PidsLimit: 1, NetworkMode: "none", CgroupNamespace: "private"}.Validate(), "user"},
		{"bad cgroupns", Config{CgroupNamespace: "shared"}.WithDefaults().Validate(), "cgroup_namespace"},
		{"tiny tmpfs", Config{ReadOnlyRootfs: true, TmpfsSize: 1024}.WithDefaults().Validate(), "tmpfs_size"},
		{"relative volume root", AllowList{VolumeRoots: []string{"data"}}.Validate(), "allowed_volume_roots"},
		{"bad image pattern", AllowList{Images: []string{"docker.io/[abc"}}.Validate(), "allowed_images"},
	} {
		if !errors.Is(tc.err, ErrInvalidConfig) {
			t.Errorf("%s: got %v, want ErrInvalidConfig", tc.name, tc.err)
			continue
		}
		if !strings.Contains(tc.err.Error(), tc.wantErr) {
			t.Errorf("%s: error %q does not name %s", tc.name, tc.err, tc.wantErr)
		}
	}
}

func mustRef(t *testing.T, s string) imageref.Ref {
	t.Helper()
	r, err := imageref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAllowListVolumeAllowed(t *testing.T) {
	c := AllowList{VolumeRoots: []string{"/data", "/srv/jobs/"}}
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
	if (AllowList{}).VolumeAllowed("/data") {
		t.Error("the zero AllowList allows a volume; by default none is allowed")
	}
	if !(AllowList{VolumeRoots: []string{"/"}}).VolumeAllowed("/anything") {
		t.Error(`root "/" should allow every absolute path`)
	}
}

func TestAllowListImageAllowed(t *testing.T) {
	any := AllowList{}
	if !any.ImageAllowed(mustRef(t, "busybox")) || !any.ImageAllowed(mustRef(t, "localhost:5000/x:1")) {
		t.Error("an empty allow-list should allow any valid image")
	}
	if any.ImageAllowed(imageref.Ref{}) {
		t.Error("the zero Ref was allowed")
	}
	c := AllowList{Images: []string{"docker.io/library/busybox:*", "localhost:5000/team/*"}}
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
		if got := c.ImageAllowed(mustRef(t, img)); got != want {
			t.Errorf("ImageAllowed(%q) = %v, want %v", img, got, want)
		}
	}
}

// TestAllowListImageIDs: an image id normalises to a name under
// docker.io/library, yet only an explicit id pattern allows it.
func TestAllowListImageIDs(t *testing.T) {
	id := "sha256:e8d5cdf7fbd4" + strings.Repeat("0", 52)
	library := AllowList{Images: []string{"docker.io/library/*"}}
	ids := AllowList{Images: []string{"docker.io/library/busybox:*", "sha256:e8d5cdf7*"}}
	for _, img := range []string{"e8d5cdf7fbd4", "e8d5cdf7", id, "sha256:e8d5cdf7"} {
		if library.ImageAllowed(mustRef(t, img)) {
			t.Errorf("%q allowed by docker.io/library/*", img)
		}
		if !(AllowList{}).ImageAllowed(mustRef(t, img)) {
			t.Errorf("%q refused without an allow-list", img)
		}
	}
	if !ids.ImageAllowed(mustRef(t, "e8d5cdf7fbd4")) || !ids.ImageAllowed(mustRef(t, id)) || ids.ImageAllowed(mustRef(t, "abcdef12")) {
		t.Error("id pattern sha256:e8d5cdf7* does not decide ids by their hex")
	}
	if ids.ImageAllowed(mustRef(t, "docker.io/library/sha256:e8d5cdf7")) {
		t.Error("a name allowed by an id pattern")
	}

	for _, tc := range []struct {
		allow AllowList
		id    string
		names []string
		want  bool
	}{
		{AllowList{}, id, nil, true},
		{library, id, []string{"busybox:latest", "busybox@sha256:" + strings.Repeat("1", 64)}, true},
		{library, id, []string{"quay.io/evil/x:1"}, false},
		{library, id, nil, false}, // an untagged image is only reachable by id
		{ids, id, nil, true},
		{ids, "sha256:abcdef" + strings.Repeat("0", 58), []string{"e8d5cdf7"}, false},
	} {
		if got := tc.allow.ResolvedImageAllowed(tc.id, tc.names); got != tc.want {
			t.Errorf("%v.ResolvedImageAllowed(%s, %q) = %v, want %v", tc.allow.Images, tc.id, tc.names, got, tc.want)
		}
	}
}
