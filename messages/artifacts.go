package messages

import (
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// ArtifactsBucket is the JetStream object store (stream OBJ_JETRUN_ARTIFACTS)
// that holds task artifacts: the files a producer uploads for a task
// (Task.Inputs, Task.InputObject) and the files a worker collects from it
// (Result.Artifacts). Objects expire with the bucket's TTL.
const ArtifactsBucket = "JETRUN_ARTIFACTS"

// ArtifactsStream is the stream behind ArtifactsBucket.
const ArtifactsStream = "OBJ_" + ArtifactsBucket

// Container paths of a task with artifacts. The worker gives such a task
// ArtifactsDir as a directory of its own (writable even on a read-only
// root, kept until the outputs are collected), DefaultOutputDir in it
// writable by the task's user; clients place inputs in DefaultInputDir
// unless told otherwise.
const (
	ArtifactsDir     = "/jetrun"
	DefaultInputDir  = "/jetrun/in"
	DefaultOutputDir = "/jetrun/out"
)

// Limits of a task's artifact fields, enforced by Validate. A worker's
// policy bounds the bytes (its largest total input and output per task).
const (
	// MaxInputs caps the number of inputs of a task.
	MaxInputs = 256
	// MaxOutputs caps the number of output paths of a task.
	MaxOutputs = 256
	// MaxObjectNameLen is the longest object name a task may refer to.
	MaxObjectNameLen = 255
	// MaxObjectSuffixLen is the longest name after InputObjectPrefix.
	MaxObjectSuffixLen = 100
)

// Kinds of an input (Input.Kind) and of a collected artifact
// (Artifact.Kind).
const (
	// KindFile is one regular file: the object holds its bytes.
	KindFile = "file"
	// KindDir is a directory: the object holds a tar archive (POSIX
	// ustar/PAX) of its entries, names relative to the directory. Only
	// regular files, directories and symbolic links are kept.
	KindDir = "dir"
	// KindLink is a symbolic link (artifacts only): Artifact.Link is its
	// target, stored as written and never followed; there is no object.
	KindLink = "link"
)

// States of a collected artifact (Artifact.State).
const (
	// ArtifactStored: the path was collected and stored as Artifact.Object
	// (or, for a link, described by Artifact.Link).
	ArtifactStored = "stored"
	// ArtifactMissing: the path did not exist when the container stopped.
	// It is not an error of the task.
	ArtifactMissing = "missing"
	// ArtifactOverCap: collecting it would pass the worker's limit of
	// output bytes per task (Artifact.Cap); nothing of it is kept.
	ArtifactOverCap = "over_cap"
	// ArtifactFailed: it could not be collected; Artifact.Error says why.
	ArtifactFailed = "failed"
)

// Input is a file or directory the worker places in the container before
// it starts, read from ArtifactsBucket.
type Input struct {
	// Path is the absolute container path the file (or directory) gets.
	Path string `msgpack:"path"`
	// Object names the object in ArtifactsBucket; it must start with
	// InputObjectPrefix(task id).
	Object string `msgpack:"object"`
	// Kind is KindFile (the default when empty) or KindDir.
	Kind string `msgpack:"kind,omitempty"`
	// Mode is the file's permission bits (0 means 0644; only 0o777 bits
	// count). Ignored for a directory, whose archive carries its modes.
	Mode uint32 `msgpack:"mode,omitempty"`
	// SHA256 is the object's expected SHA-256, 64 lowercase hex digits;
	// when set the worker refuses an object with another digest.
	SHA256 string `msgpack:"sha256,omitempty"`
}

// Artifact is one output path as the worker collected it, listed in
// Result.Artifacts in the order of Task.Outputs.
type Artifact struct {
	// Path is the container path, as the task asked for it.
	Path string `msgpack:"path"`
	// State is ArtifactStored, ArtifactMissing, ArtifactOverCap or
	// ArtifactFailed.
	State string `msgpack:"state"`
	// Kind is KindFile, KindDir or KindLink (empty when missing).
	Kind string `msgpack:"kind,omitempty"`
	// Size is the object's size in bytes (a directory's archive).
	Size int64 `msgpack:"size,omitempty"`
	// SHA256 is the object's SHA-256 in lowercase hex.
	SHA256 string `msgpack:"sha256,omitempty"`
	// Object names the object in ArtifactsBucket (OutputObject).
	Object string `msgpack:"object,omitempty"`
	// Link is a symbolic link's target (KindLink).
	Link string `msgpack:"link,omitempty"`
	// Cap is the worker's limit of output bytes per task, for
	// ArtifactOverCap.
	Cap int64 `msgpack:"cap,omitempty"`
	// Error says why an artifact failed.
	Error string `msgpack:"error,omitempty"`
}

// InputObjectPrefix is how the name of every object a task id reads
// starts: "<id>/in/". A task can name only objects under its own id.
func InputObjectPrefix(id string) string { return id + "/in/" }

// OutputObject is the name of the object of task id's output number i
// (its index in Task.Outputs): "<id>/out/<i>".
func OutputObject(id string, i int) string { return id + "/out/" + strconv.Itoa(i) }

// InputObject is the name of input object suffix of task id:
// InputObjectPrefix(id) + suffix. Check suffix with CheckObjectSuffix.
func InputObject(id, suffix string) string { return InputObjectPrefix(id) + suffix }

// CheckObjectSuffix says why suffix cannot follow InputObjectPrefix, as a
// plain error, or nil: 1 to MaxObjectSuffixLen of A-Z a-z 0-9 _ - . not
// starting with '.'.
func CheckObjectSuffix(suffix string) error {
	if r := checkSuffix(suffix); r != "" {
		return fmt.Errorf("object name suffix %s", r)
	}
	return nil
}

func checkSuffix(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > MaxObjectSuffixLen:
		return fmt.Sprintf("is %d characters, more than %d", len(s), MaxObjectSuffixLen)
	case s[0] == '.':
		return fmt.Sprintf("%q starts with '.'", s)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isIDChar(c) && c != '.' {
			return fmt.Sprintf("%q has %q at position %d; only A-Z a-z 0-9 _ - . are allowed", s, c, i)
		}
	}
	return ""
}

// HasArtifacts reports whether t uses ArtifactsBucket.
func (t *Task) HasArtifacts() bool {
	return len(t.Inputs) > 0 || len(t.Outputs) > 0 || t.InputObject != ""
}

// validateArtifacts checks the artifact keys of t (whose id is valid).
func (t *Task) validateArtifacts() error {
	if t.InputObject != "" {
		if len(t.Input) > 0 {
			return invalid("input_object", "is set together with input; give one of them")
		}
		if r := checkObject(t.ID, t.InputObject); r != "" {
			return invalid("input_object", "%s", r)
		}
	}
	if len(t.Inputs) > MaxInputs {
		return invalid("inputs", "has %d inputs, more than %d", len(t.Inputs), MaxInputs)
	}
	seen := make(map[string]string, len(t.Inputs)+len(t.Outputs))
	for i, in := range t.Inputs {
		f := fmt.Sprintf("inputs[%d]", i)
		p, r := checkArtifactPath(in.Path)
		if r != "" {
			return invalid(f+".path", "%s", r)
		}
		if prev, dup := seen[p]; dup {
			return invalid(f+".path", "%q is already given by %s", in.Path, prev)
		}
		if r := overlaps(p, seen); r != "" {
			return invalid(f+".path", "%q %s", in.Path, r)
		}
		seen[p] = f
		if r := checkObject(t.ID, in.Object); r != "" {
			return invalid(f+".object", "%s", r)
		}
		switch in.Kind {
		case "", KindFile, KindDir:
		default:
			return invalid(f+".kind", "%q: want %q or %q", in.Kind, KindFile, KindDir)
		}
		if in.Mode&^0o777 != 0 {
			return invalid(f+".mode", "%#o has bits beyond 0777", in.Mode)
		}
		if in.SHA256 != "" {
			if b, err := hex.DecodeString(in.SHA256); err != nil || len(b) != 32 || strings.ToLower(in.SHA256) != in.SHA256 {
				return invalid(f+".sha256", "%q is not 64 lowercase hex digits", in.SHA256)
			}
		}
	}
	if len(t.Outputs) > MaxOutputs {
		return invalid("outputs", "has %d paths, more than %d", len(t.Outputs), MaxOutputs)
	}
	outs := make(map[string]string, len(t.Outputs))
	for i, o := range t.Outputs {
		f := fmt.Sprintf("outputs[%d]", i)
		p, r := checkArtifactPath(o)
		if r != "" {
			return invalid(f, "%s", r)
		}
		if prev, dup := outs[p]; dup {
			return invalid(f, "%q is already given by %s", o, prev)
		}
		outs[p] = f
	}
	return nil
}

// checkArtifactPath says why p is not an acceptable container path of an
// input or output, or returns it cleaned: absolute, not "/", without ".."
// elements, NUL or ':' (see checkPath), at most MaxPathLen bytes.
func checkArtifactPath(p string) (string, string) {
	if r := checkPath(p); r != "" {
		return "", r
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return "", fmt.Sprintf("%q has a \"..\" element", p)
		}
	}
	c := path.Clean(p)
	if c == "/" {
		return "", "may not be /"
	}
	return c, ""
}

// overlaps says how input path p nests in or around one already seen, or
// "": two inputs may not be placed one inside the other.
func overlaps(p string, seen map[string]string) string {
	for q, f := range seen {
		if strings.HasPrefix(p, q+"/") {
			return fmt.Sprintf("lies inside %s (%q)", f, q)
		}
		if strings.HasPrefix(q, p+"/") {
			return fmt.Sprintf("contains %s (%q)", f, q)
		}
	}
	return ""
}

// checkObject says why name is not an input object task id may read, or "".
func checkObject(id, name string) string {
	prefix := InputObjectPrefix(id)
	switch {
	case name == "":
		return "is empty"
	case len(name) > MaxObjectNameLen:
		return fmt.Sprintf("is %d characters, more than %d", len(name), MaxObjectNameLen)
	case !strings.HasPrefix(name, prefix):
		return fmt.Sprintf("%q is not under this task's objects %q", name, prefix)
	}
	if r := checkSuffix(name[len(prefix):]); r != "" {
		return "name after " + strconv.Quote(prefix) + " " + r
	}
	return ""
}
