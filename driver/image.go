package driver

import (
	"strings"

	"github.com/distribution/reference"
)

// ParseImage splits an image reference following Docker's rules. The
// registry of an image on Docker Hub is "docker.io"; official images get the
// "library/" namespace; a missing tag is "latest"; a digest reference gives
// the digest ("sha256:...") as tag. An invalid reference (refused earlier, by
// task validation) is returned as repo with tag "latest".
func ParseImage(image string) (registry, repo, tag string) {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return "", image, "latest"
	}
	registry = reference.Domain(named)
	repo = reference.Path(named)
	switch r := named.(type) {
	case reference.Digested:
		tag = r.Digest().String()
	case reference.Tagged:
		tag = r.Tag()
	default:
		tag = "latest"
	}
	return registry, repo, tag
}

// NormalizeImage returns the full reference Docker would use for image,
// e.g. "busybox" -> "docker.io/library/busybox:latest". An invalid
// reference is returned unchanged.
func NormalizeImage(image string) string {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return image
	}
	return reference.TagNameOnly(named).String()
}

// ValidImage reports why image is not a valid Docker image reference, or
// nil.
func ValidImage(image string) error {
	if strings.TrimSpace(image) == "" {
		return reference.ErrNameEmpty
	}
	_, err := reference.ParseNormalizedNamed(image)
	return err
}
