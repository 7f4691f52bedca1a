package driver

import "github.com/jetrun/jetrun/imageref"

// ParseImage splits an image reference following Docker's rules. The
// registry of an image on Docker Hub is "docker.io"; official images get the
// "library/" namespace; a missing tag is "latest"; a digest reference gives
// the digest ("sha256:...") as tag. An invalid reference (refused earlier, by
// task validation) is returned as repo with tag "latest". It is a wrapper of
// [imageref.Parse], which callers holding a parsed reference use instead.
func ParseImage(image string) (registry, repo, tag string) {
	r, err := imageref.Parse(image)
	if err != nil {
		return "", image, "latest"
	}
	return r.Domain(), r.Path(), r.Tag()
}

// NormalizeImage returns the full reference Docker would use for image,
// e.g. "busybox" -> "docker.io/library/busybox:latest". An invalid
// reference is returned unchanged.
func NormalizeImage(image string) string {
	r, err := imageref.Parse(image)
	if err != nil {
		return image
	}
	return r.String()
}

// ValidImage reports why image is not a valid Docker image reference, or
// nil.
func ValidImage(image string) error {
	_, err := imageref.Parse(image)
	return err
}
