// Package imageref parses container image references once, following
// Docker's rules, into a value the rest of jetrun passes around instead of
// the string. It is a leaf: it imports only
// github.com/distribution/reference, so both the wire types (messages) and
// the container contract (driver) can use it.
package imageref

import (
	"strings"

	"github.com/distribution/reference"
)

// ErrEmpty is returned by Parse for an empty or all-white-space reference.
var ErrEmpty = reference.ErrNameEmpty

// Ref is a parsed, normalised image reference. The zero Ref is not valid;
// get one from Parse.
type Ref struct {
	original string
	named    reference.Named
}

// Parse parses s as Docker does: "busybox" is
// "docker.io/library/busybox:latest". It returns an error naming the
// problem for anything Docker would refuse.
func Parse(s string) (Ref, error) {
	if strings.TrimSpace(s) == "" {
		return Ref{}, ErrEmpty
	}
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Ref{}, err
	}
	return Ref{original: s, named: named}, nil
}

// IDPrefix starts the image id form "sha256:<hex>".
const IDPrefix = "sha256:"

// LooksLikeID reports whether a daemon may resolve s as an image id rather
// than a name: "sha256:" followed by hex digits, or a bare string of 1 to
// 64 lowercase hex digits (Docker resolves any unique prefix of an id,
// e.g. "e8d5cdf7"). Such references parse as names under docker.io/library
// but name no repository.
func LooksLikeID(s string) bool {
	hex, ok := strings.CutPrefix(s, IDPrefix)
	if ok {
		return len(hex) >= 1 && len(hex) <= 64 && isHex(hex)
	}
	return len(s) >= 1 && len(s) <= 64 && isHex(s)
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// IsID reports whether r was written as an image id (see LooksLikeID).
func (r Ref) IsID() bool { return r.named != nil && LooksLikeID(r.original) }

// ID is the id r was written as, in the form "sha256:<hex>" (the hex
// possibly a prefix of the full id), or "" when r is not an id.
func (r Ref) ID() string {
	if !r.IsID() {
		return ""
	}
	return IDPrefix + strings.TrimPrefix(r.original, IDPrefix)
}

// Valid reports whether r came from a successful Parse.
func (r Ref) Valid() bool { return r.named != nil }

// Original is the reference as it was written, e.g. "busybox".
func (r Ref) Original() string { return r.original }

// String is the full reference Docker resolves, with the tag "latest" added
// when there is neither tag nor digest, e.g.
// "docker.io/library/busybox:latest". It is "" for the zero Ref.
func (r Ref) String() string {
	if r.named == nil {
		return ""
	}
	return reference.TagNameOnly(r.named).String()
}

// Domain is the registry host, "docker.io" for Docker Hub, or e.g.
// "127.0.0.1:5000".
func (r Ref) Domain() string {
	if r.named == nil {
		return ""
	}
	return reference.Domain(r.named)
}

// Path is the repository within its registry, e.g. "library/busybox".
func (r Ref) Path() string {
	if r.named == nil {
		return ""
	}
	return reference.Path(r.named)
}

// Tag is the digest ("sha256:...") of a digest reference, else its tag, else
// "latest".
func (r Ref) Tag() string {
	switch n := r.named.(type) {
	case reference.Digested:
		return n.Digest().String()
	case reference.Tagged:
		return n.Tag()
	}
	return "latest"
}

// Digest is the digest of a digest reference ("sha256:..."), else "".
func (r Ref) Digest() string {
	if d, ok := r.named.(reference.Digested); ok {
		return d.Digest().String()
	}
	return ""
}
