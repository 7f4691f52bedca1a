package driver

import "testing"

const testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseImage(t *testing.T) {
	for _, tc := range []struct {
		in                  string
		registry, repo, tag string
	}{
		{"busybox", "docker.io", "library/busybox", "latest"},
		{"busybox:1.36", "docker.io", "library/busybox", "1.36"},
		{"docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest"},
		{"fnproject/hello", "docker.io", "fnproject/hello", "latest"},
		{"quay.com:8080/fnproject/fn-test-utils:v2", "quay.com:8080", "fnproject/fn-test-utils", "v2"},
		{"localhost:5000/foo", "localhost:5000", "foo", "latest"},
		{"localhost/foo:1", "localhost", "foo", "1"},
		{"127.0.0.1:5000/a/b/c:x", "127.0.0.1:5000", "a/b/c", "x"},
		{"busybox@" + testDigest, "docker.io", "library/busybox", testDigest},
		{"busybox:1.36@" + testDigest, "docker.io", "library/busybox", testDigest},
		{"localhost:5000/foo@" + testDigest, "localhost:5000", "foo", testDigest},
		// Invalid references never reach ParseImage (task validation refuses
		// them), but it must not panic: they come back whole as the repo.
		{"Busybox", "", "Busybox", "latest"},
		{"a//b", "", "a//b", "latest"},
		{"", "", "", "latest"},
	} {
		registry, repo, tag := ParseImage(tc.in)
		if registry != tc.registry || repo != tc.repo || tag != tc.tag {
			t.Errorf("ParseImage(%q) = (%q, %q, %q), want (%q, %q, %q)", tc.in, registry, repo, tag, tc.registry, tc.repo, tc.tag)
		}
	}
}

func TestNormalizeImage(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                   "docker.io/library/busybox:latest",
		"busybox:1":                 "docker.io/library/busybox:1",
		"localhost:5000/foo":        "localhost:5000/foo:latest",
		"busybox@" + testDigest:     "docker.io/library/busybox@" + testDigest,
		"not a valid image at all!": "not a valid image at all!",
	} {
		if got := NormalizeImage(in); got != want {
			t.Errorf("NormalizeImage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestValidImage(t *testing.T) {
	for _, ok := range []string{"busybox", "busybox:1.36", "localhost:5000/foo", "busybox@" + testDigest, "a/b/c/d:e"} {
		if err := ValidImage(ok); err != nil {
			t.Errorf("ValidImage(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", "  ", "Busybox", "busybox:", "busybox:bad tag", "-foo", "foo@sha256:short", "a//b", ":latest"} {
		if err := ValidImage(bad); err == nil {
			t.Errorf("ValidImage(%q) = nil, want an error", bad)
		}
	}
}
