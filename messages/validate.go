package messages

import (
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/jetrun/jetrun/imageref"
)

// Limits of a message's fields, enforced by Validate. A worker's own policy
// (maximum memory, timeout, allowed images and volumes) narrows them
// further; these are the bounds beyond which no worker would accept a task.
const (
	// MaxIDLen is the longest task id.
	MaxIDLen = 128
	// MaxImageLen is the longest image reference.
	MaxImageLen = 512
	// MaxInputBytes caps a task's stdin input: 1 MiB, the NATS server's
	// default maximum payload. Larger inputs belong in a volume.
	MaxInputBytes = 1 << 20
	// MaxTimeoutMS is the longest timeout a task may ask for: 7 days.
	MaxTimeoutMS = 7 * 24 * 60 * 60 * 1000
	// MaxMemoryBytes is the most memory a task may ask for: 1 TiB.
	MaxMemoryBytes = 1 << 40
	// MaxCPUs is the most milli-CPUs a task may ask for: 1024 CPUs.
	MaxCPUs = 1024 * 1000
	// MaxArgs caps the number of elements of cmd.
	MaxArgs = 4096
	// MaxEnv caps the number of environment variables.
	MaxEnv = 1024
	// MaxLabels caps the number of labels.
	MaxLabels = 256
	// MaxVolumes caps the number of volumes.
	MaxVolumes = 64
	// MaxPathLen is the longest volume path or workdir (Linux PATH_MAX).
	MaxPathLen = 4096
	// MaxSubjectLen is the longest reply prefix.
	MaxSubjectLen = 256
	// MaxReasonLen is the longest cancel reason.
	MaxReasonLen = 1024
	// MaxErrorLen is the longest error text of a Result; a worker cuts
	// longer text (see Clip).
	MaxErrorLen = 8 << 10
)

// Clip returns s as valid UTF-8 of at most max bytes (max >= 3): invalid
// bytes become U+FFFD, and text cut short ends with "…" at a character
// boundary.
func Clip(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	const ellipsis = "…"
	cut := max - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// ReservedLabelPrefix starts the container labels jetrun sets itself; a
// task may not set them.
const ReservedLabelPrefix = "jetrun."

// Validate reports the first problem with t as a *ValidationError naming
// the field and why; nil means a worker can try to run it. Validation does
// not know the worker's policy: allowed images, volume roots and maximum
// resources are checked by the worker. Nor does it know the prefix:
// Subjects.Check adds the rules on the reply prefix that need it.
func (t *Task) Validate() error {
	_, err := t.check()
	return err
}

// check is Validate, returning the parsed image.
func (t *Task) check() (imageref.Ref, error) {
	if err := validateID(t.ID); err != nil {
		return imageref.Ref{}, err
	}
	image, err := t.parseImage()
	if err != nil {
		return imageref.Ref{}, err
	}
	if err := t.checkFields(); err != nil {
		return imageref.Ref{}, err
	}
	return image, nil
}

func (t *Task) checkFields() error {
	if len(t.Cmd) > MaxArgs {
		return invalid("cmd", "has %d elements, more than %d", len(t.Cmd), MaxArgs)
	}
	for i, a := range t.Cmd {
		if err := checkText(a); err != "" {
			return invalid(fmt.Sprintf("cmd[%d]", i), "%s", err)
		}
	}
	if err := validateEnv(t.Env); err != nil {
		return err
	}
	if len(t.Input) > MaxInputBytes {
		return invalid("input", "is %d bytes, more than %d", len(t.Input), MaxInputBytes)
	}
	if err := validateLabels(t.Labels); err != nil {
		return err
	}
	switch {
	case t.TimeoutMS < 0:
		return invalid("timeout_ms", "is negative (%d)", t.TimeoutMS)
	case t.TimeoutMS > MaxTimeoutMS:
		return invalid("timeout_ms", "is %d, more than %d (7 days)", t.TimeoutMS, MaxTimeoutMS)
	case t.Memory < 0:
		return invalid("memory", "is negative (%d)", t.Memory)
	case t.Memory > MaxMemoryBytes:
		return invalid("memory", "is %d bytes, more than %d (1 TiB)", t.Memory, int64(MaxMemoryBytes))
	case t.CPUs < 0:
		return invalid("cpus", "is negative (%d)", t.CPUs)
	case t.CPUs > MaxCPUs:
		return invalid("cpus", "is %d milli-CPUs, more than %d", t.CPUs, MaxCPUs)
	}
	if err := validateVolumes(t.Volumes); err != nil {
		return err
	}
	if t.Workdir != "" {
		if reason := checkPath(t.Workdir); reason != "" {
			return invalid("workdir", "%s", reason)
		}
	}
	if t.Reply != "" {
		if reason := checkSubject(t.Reply); reason != "" {
			return invalid("reply", "%s", reason)
		}
	}
	if t.RetryOf != "" {
		if err := validateID(t.RetryOf); err != nil {
			return invalid("retry_of", "%s", err.(*ValidationError).Reason)
		}
	}
	return t.validateArtifacts()
}

// Validate reports the first problem with c as a *ValidationError: the id
// follows the task id rules and the reason is at most MaxReasonLen bytes of
// UTF-8 text.
func (c *Cancel) Validate() error {
	if err := validateID(c.ID); err != nil {
		err.(*ValidationError).Message = "cancel"
		return err
	}
	if len(c.Reason) > MaxReasonLen {
		return &ValidationError{Message: "cancel", Field: "reason", Reason: fmt.Sprintf("is %d bytes, more than %d", len(c.Reason), MaxReasonLen)}
	}
	if !utf8.ValidString(c.Reason) {
		return &ValidationError{Message: "cancel", Field: "reason", Reason: "is not valid UTF-8"}
	}
	return nil
}

// ValidID reports whether id is a valid task id: 1 to MaxIDLen characters of
// A-Z a-z 0-9 _ -, so that it is a single subject token.
func ValidID(id string) bool { return validateID(id) == nil }

// CheckID reports why id is not a valid task id, as a *ValidationError, or
// nil.
func CheckID(id string) error { return validateID(id) }

func validateID(id string) error {
	if id == "" {
		return invalid("id", "is required")
	}
	if len(id) > MaxIDLen {
		return invalid("id", "is %d characters, more than %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isIDChar(c) {
			return invalid("id", "%q has %q at position %d; only A-Z a-z 0-9 _ - are allowed", id, c, i)
		}
	}
	return nil
}

func isIDChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func (t *Task) parseImage() (imageref.Ref, error) {
	if t.Image == "" {
		return imageref.Ref{}, invalid("image", "is required")
	}
	if len(t.Image) > MaxImageLen {
		return imageref.Ref{}, invalid("image", "is %d characters, more than %d", len(t.Image), MaxImageLen)
	}
	r, err := imageref.Parse(t.Image)
	if err != nil {
		return imageref.Ref{}, invalid("image", "%q is not a valid image reference: %v", t.Image, err)
	}
	return r, nil
}

func validateEnv(env map[string]string) error {
	if len(env) > MaxEnv {
		return invalid("env", "has %d variables, more than %d", len(env), MaxEnv)
	}
	for k, v := range env {
		switch {
		case k == "":
			return invalid("env", "has an empty name")
		case strings.ContainsRune(k, '='):
			return invalid(fmt.Sprintf("env[%s]", k), "name contains '='")
		}
		if reason := checkText(k); reason != "" {
			return invalid(fmt.Sprintf("env[%q]", k), "name %s", reason)
		}
		if reason := checkText(v); reason != "" {
			return invalid(fmt.Sprintf("env[%s]", k), "value %s", reason)
		}
	}
	return nil
}

func validateLabels(labels map[string]string) error {
	if len(labels) > MaxLabels {
		return invalid("labels", "has %d labels, more than %d", len(labels), MaxLabels)
	}
	for k, v := range labels {
		switch {
		case k == "":
			return invalid("labels", "has an empty key")
		case strings.HasPrefix(k, ReservedLabelPrefix):
			return invalid(fmt.Sprintf("labels[%s]", k), "keys starting %q are reserved for jetrun", ReservedLabelPrefix)
		}
		if reason := checkText(k); reason != "" {
			return invalid(fmt.Sprintf("labels[%q]", k), "key %s", reason)
		}
		if reason := checkText(v); reason != "" {
			return invalid(fmt.Sprintf("labels[%s]", k), "value %s", reason)
		}
	}
	return nil
}

func validateVolumes(volumes [][]string) error {
	if len(volumes) > MaxVolumes {
		return invalid("volumes", "has %d volumes, more than %d", len(volumes), MaxVolumes)
	}
	seen := make(map[string]int, len(volumes))
	for i, v := range volumes {
		if len(v) != 2 && len(v) != 3 {
			return invalid(fmt.Sprintf("volumes[%d]", i), "has %d elements; want [host path, container path] or [host path, container path, mode]", len(v))
		}
		if len(v) == 3 && v[2] != VolumeReadOnly && v[2] != VolumeReadWrite {
			return invalid(fmt.Sprintf("volumes[%d][2]", i), "mode %q: want %q or %q", v[2], VolumeReadOnly, VolumeReadWrite)
		}
		if reason := checkPath(v[0]); reason != "" {
			return invalid(fmt.Sprintf("volumes[%d][0]", i), "host path %s", reason)
		}
		if reason := checkPath(v[1]); reason != "" {
			return invalid(fmt.Sprintf("volumes[%d][1]", i), "container path %s", reason)
		}
		target := path.Clean(v[1])
		if target == "/" {
			return invalid(fmt.Sprintf("volumes[%d][1]", i), "container path may not be /")
		}
		if j, dup := seen[target]; dup {
			return invalid(fmt.Sprintf("volumes[%d][1]", i), "container path %q is already mounted by volumes[%d]", v[1], j)
		}
		seen[target] = i
	}
	return nil
}

// checkPath says why p is not an acceptable absolute path, or "".
func checkPath(p string) string {
	switch {
	case p == "":
		return "is empty"
	case len(p) > MaxPathLen:
		return fmt.Sprintf("is %d bytes, more than %d", len(p), MaxPathLen)
	case !strings.HasPrefix(p, "/"):
		return fmt.Sprintf("%q is not absolute", p)
	case strings.ContainsRune(p, ':'):
		// Docker's bind syntax is host:container[:options].
		return fmt.Sprintf("%q contains ':'", p)
	}
	return checkText(p)
}

// checkText says why s cannot be passed to a process (as an argument,
// environment variable or path), or "".
func checkText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "contains a NUL byte"
	}
	return ""
}

// checkSubject says why s is not a subject prefix a worker can publish
// under (it gains ".status", ".log", ... suffixes), or "": one or more
// tokens of A-Z a-z 0-9 _ - separated by dots, at most MaxSubjectLen
// characters. The alphabet is narrower than NATS's own, so a prefix never
// holds a wildcard, white space or a character ("$", ">") that some
// server configurations treat specially.
func checkSubject(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > MaxSubjectLen {
		return fmt.Sprintf("is %d characters, more than %d", len(s), MaxSubjectLen)
	}
	tok := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if i == 0 || s[i-1] == '.' || i == len(s)-1 {
				return fmt.Sprintf("%q has an empty token at position %d", s, tok)
			}
			tok++
		case c == '*' || c == '>':
			return fmt.Sprintf("%q contains the wildcard %q", s, c)
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0:
			return fmt.Sprintf("%q contains white space or NUL", s)
		case !isIDChar(c):
			return fmt.Sprintf("%q has %q at position %d; only tokens of A-Z a-z 0-9 _ - separated by dots are allowed", s, c, i)
		}
	}
	return ""
}

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
