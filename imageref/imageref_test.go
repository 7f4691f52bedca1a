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

func TestLooksLikeID(t *testing.T) {
	for s, want := range map[string]bool{
		"e8d5cdf7fbd4":               true,
		"e8d5cdf7":                   true,
		"sha256:" + hex64:            true,
		"sha256:e8d5cdf7":            true,
		"sha256:":                    false,
		"sha256:xyz":                 false,
		"busybox":                    false,
		"cafe:latest":                false,
		"library/e8d5cdf7":           false,
		"docker.io/library/e8d5cdf7": false,
		hex64 + "0":                  false,
		"":                           false,
	} {
		if got := LooksLikeID(s); got != want {
			t.Errorf("LooksLikeID(%q) = %v, want %v", s, got, want)
		}
	}
	for in, id := range map[string]string{"e8d5cdf7": "sha256:e8d5cdf7", "sha256:" + hex64: "sha256:" + hex64, "busybox": ""} {
		r, err := Parse(in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", in, err)
		}
		if r.IsID() != (id != "") || r.ID() != id {
			t.Errorf("Parse(%q): IsID %v, ID %q; want %q", in, r.IsID(), r.ID(), id)
		}
	}
}
