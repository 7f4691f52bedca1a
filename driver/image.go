package driver

import (
	"strings"
	"sync"

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
	if validImages.known(image) {
		return nil
	}
	if strings.TrimSpace(image) == "" {
		return reference.ErrNameEmpty
	}
	if _, err := reference.ParseNormalizedNamed(image); err != nil {
		return err
	}
	validImages.add(image)
	return nil
}

// Bounds of the set of references ValidImage accepted.
const (
	validImagesMax    = 1024 // entries; the set starts afresh when full
	validImagesMaxLen = 256  // longer references are not remembered
)

// validImages remembers references ValidImage accepted. Parsing one runs
// several regular expressions, and a worker checks the same few images
// several times for every task (validation, policy, driver), which made
// it a tenth of a busy worker's CPU. Only valid references are kept, so a
// bad one is always parsed again and reported with its error.
var validImages imageSet

type imageSet struct {
	mu sync.RWMutex
	m  map[string]struct{}
}

func (s *imageSet) known(image string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.m[image]
	return ok
}

func (s *imageSet) add(image string) {
	if len(image) > validImagesMaxLen {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil || len(s.m) >= validImagesMax {
		s.m = make(map[string]struct{}, 64)
	}
	s.m[image] = struct{}{}
}
