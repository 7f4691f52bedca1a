package imageref

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in                          string
		full, domain, path, tag, dg string
	}{
		{"busybox", "docker.io/library/busybox:latest", "docker.io", "library/busybox", "latest", ""},
		{"busybox:1.36", "docker.io/library/busybox:1.36", "docker.io", "library/busybox", "1.36", ""},
		{"127.0.0.1:5000/team/app:v2", "127.0.0.1:5000/team/app:v2", "127.0.0.1:5000", "team/app", "v2", ""},
		{"quay.io/x/y@sha256:" + hex64, "quay.io/x/y@sha256:" + hex64, "quay.io", "x/y", "sha256:" + hex64, "sha256:" + hex64},
	} {
		r, err := Parse(tc.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tc.in, err)
		}
		got := [...]string{r.String(), r.Domain(), r.Path(), r.Tag(), r.Digest(), r.Original()}
		want := [...]string{tc.full, tc.domain, tc.path, tc.tag, tc.dg, tc.in}
		if got != want {
			t.Errorf("Parse(%q) = %q, want %q", tc.in, got, want)
		}
		if !r.Valid() {
			t.Errorf("Parse(%q).Valid() = false", tc.in)
		}
	}
}

const hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestParseRefuses(t *testing.T) {
	for _, in := range []string{"", "  ", "Busybox", "a b", "busybox:", "x@sha256:short", "-x"} {
		if r, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", in, r)
		}
	}
	var zero Ref
	if zero.Valid() || zero.String() != "" || zero.Domain() != "" {
		t.Errorf("zero Ref = valid %v, %q, %q", zero.Valid(), zero.String(), zero.Domain())
	}
}
