package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"gopkg.in/yaml.v3"

	"github.com/jetrun/jetrun/messages"
)

// maxSpecBytes bounds a task spec file, read before it is decoded, so
// decoding stays cheap. A task's input is at most 1 MiB on the wire: a
// large input belongs in --input, not in the spec.
const maxSpecBytes = 1 << 20

// spec is a task spec file (-f), YAML or JSON (JSON is YAML). Its keys
// follow the wire protocol's, in the units a person writes: a timeout is
// a duration ("30s"), memory a size ("256M"), cpus a number of CPUs (0.5).
type spec struct {
	ID      string            `yaml:"id"`
	Image   string            `yaml:"image"`
	Cmd     []string          `yaml:"cmd"`
	Env     map[string]string `yaml:"env"`
	Input   *string           `yaml:"input"`
	Labels  map[string]string `yaml:"labels"`
	Timeout durationValue     `yaml:"timeout"`
	Memory  memoryValue       `yaml:"memory"`
	CPUs    cpusValue         `yaml:"cpus"`
	Volumes []volumeValue     `yaml:"volumes"`
	Workdir string            `yaml:"workdir"`
	Reply   string            `yaml:"reply"`
	Queue   string            `yaml:"queue"`
}

// readSpec reads and decodes a spec file; "-" reads stdin. Unknown keys are
// errors, so a typo does not silently drop a setting.
func readSpec(path string, stdin io.Reader) (*spec, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, maxSpecBytes+1))
	} else {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			data, err = io.ReadAll(io.LimitReader(f, maxSpecBytes+1))
			f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("task spec %s: %w", path, err)
	}
	if len(data) > maxSpecBytes {
		return nil, fmt.Errorf("task spec %s: larger than %s, the most a spec file may be (give a large input with --input FILE)", path, units.BytesSize(maxSpecBytes))
	}
	s, err := parseSpec(data)
	if err != nil {
		return nil, fmt.Errorf("task spec %s: %w", path, err)
	}
	return s, nil
}

// Bounds of a spec's YAML tree, checked before it is decoded into a spec
// (decoding a mapping costs time quadratic in its keys): the protocol's
// own limits (messages.MaxArgs, MaxEnv, ...) with room for the spec's keys.
const (
	maxSpecEntries = messages.MaxArgs // in one mapping or sequence
	maxSpecNodes   = 4 * messages.MaxArgs
)

// checkSpecTree refuses a YAML document too large to decode cheaply:
// a mapping or sequence over maxSpecEntries, more than maxSpecNodes nodes
// in all, or an alias (which could repeat a large subtree).
func checkSpecTree(data []byte) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return err
	}
	if err := checkSpecKeys(&root); err != nil {
		return err
	}
	nodes := 0
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		nodes++
		switch {
		case nodes > maxSpecNodes:
			return fmt.Errorf("more than %d YAML values; a task has far fewer (at most %d arguments, %d env variables, %d labels)", maxSpecNodes, messages.MaxArgs, messages.MaxEnv, messages.MaxLabels)
		case n.Kind == yaml.AliasNode:
			return fmt.Errorf("line %d: YAML aliases are not allowed in a task spec", n.Line)
		case n.Kind == yaml.MappingNode && len(n.Content)/2 > maxSpecEntries, n.Kind == yaml.SequenceNode && len(n.Content) > maxSpecEntries:
			return fmt.Errorf("line %d: more than %d entries in one mapping or list", n.Line, maxSpecEntries)
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(&root)
}

// checkSpecKeys refuses a key of the document root's mapping that a spec
// does not have, naming it with the keys there are.
func checkSpecKeys(root *yaml.Node) error {
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || root.Content[0].Kind != yaml.MappingNode {
		return nil // the decoder says what is wrong
	}
	var known []string
	for _, f := range reflect.VisibleFields(reflect.TypeFor[spec]()) {
		known = append(known, f.Tag.Get("yaml"))
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i]; !slices.Contains(known, k.Value) {
			slices.Sort(known)
			return fmt.Errorf("line %d: unknown key %q; the keys are %s", k.Line, k.Value, strings.Join(known, ", "))
		}
	}
	return nil
}

// parseSpec decodes a YAML or JSON task spec.
func parseSpec(data []byte) (*spec, error) {
	if err := checkSpecTree(data); err != nil {
		return nil, err
	}
	var s spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty")
		}
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one document")
	}
	return &s, nil
}

// task returns the spec as a task, before flags are applied.
func (s *spec) task() *messages.Task {
	t := &messages.Task{
		ID:        s.ID,
		Image:     s.Image,
		Cmd:       s.Cmd,
		Env:       s.Env,
		Labels:    s.Labels,
		TimeoutMS: s.Timeout.ms,
		Memory:    s.Memory.bytes,
		CPUs:      s.CPUs.milli,
		Workdir:   s.Workdir,
		Reply:     s.Reply,
	}
	if s.Input != nil {
		t.Input = []byte(*s.Input)
	}
	for _, v := range s.Volumes {
		t.Volumes = append(t.Volumes, v.v)
	}
	return t
}

// durationValue is a timeout: a Go duration such as "90s" or "1h30m".
type durationValue struct{ ms int64 }

func (d *durationValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: timeout: want a duration such as 30s or 1h", n.Line)
	}
	ms, err := parseTimeout(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	d.ms = ms
	return nil
}

// parseTimeout reads a timeout as a Go duration and returns milliseconds,
// rounding a positive sub-millisecond remainder up so it never becomes 0
// ("the worker's default").
func parseTimeout(s string) (int64, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("timeout %q: want a duration such as 30s, 5m or 1h", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("timeout %q: negative", s)
	}
	if max := time.Duration(messages.MaxTimeoutMS) * time.Millisecond; d > max {
		return 0, fmt.Errorf("timeout %q: above the most a task may ask for, %v", s, max)
	}
	return (d + time.Millisecond - 1).Milliseconds(), nil
}

// memoryValue is a memory limit: a size with a unit ("256M", "1.5GiB") or
// a number of bytes.
type memoryValue struct{ bytes int64 }

func (m *memoryValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: memory: want a size such as 256M or 1G", n.Line)
	}
	b, err := parseMemory(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	m.bytes = b
	return nil
}

// parseMemory reads a size the way Docker does (binary multiples: M is
// MiB), or a number of bytes.
func parseMemory(s string) (int64, error) {
	n, err := units.RAMInBytes(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("memory: %q is not a size (want e.g. 128M, 1.5G, 512KiB)", s)
	}
	// RAMInBytes converts a float to int64: sizes beyond its range come
	// back negative or saturated.
	if n < 0 || n == math.MaxInt64 || n > messages.MaxMemoryBytes {
		return 0, fmt.Errorf("memory %q: above the most a task may ask for, %s", s, units.BytesSize(messages.MaxMemoryBytes))
	}
	return n, nil
}

// cpusValue is a CPU limit as a number of CPUs (0.5, 2).
type cpusValue struct{ milli int64 }

func (c *cpusValue) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: cpus: want a number of CPUs such as 0.5 or 2", n.Line)
	}
	m, err := parseCPUs(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	c.milli = m
	return nil
}

// parseCPUs reads a number of CPUs and returns milli-CPUs: "0.5" is 500.
func parseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("cpus %q: want a number of CPUs such as 0.5 or 2", s)
	}
	if f < 0 {
		return 0, fmt.Errorf("cpus %q: negative", s)
	}
	if f > messages.MaxCPUs/1000 {
		return 0, fmt.Errorf("cpus %q: above the most a task may ask for, %d", s, messages.MaxCPUs/1000)
	}
	m := int64(math.Round(f * 1000))
	if f > 0 && m == 0 {
		return 0, fmt.Errorf("cpus %q: below the least that can be asked for, 0.001", s)
	}
	return m, nil
}

// volumeValue is a volume: "HOST:CONTAINER[:ro|:rw]" or a [HOST,
// CONTAINER] or [HOST, CONTAINER, MODE] list.
type volumeValue struct{ v []string }

func (v *volumeValue) UnmarshalYAML(n *yaml.Node) error {
	const want = `want [HOST, CONTAINER], [HOST, CONTAINER, ro|rw] or "HOST:CONTAINER[:ro|:rw]"`
	switch n.Kind {
	case yaml.ScalarNode:
		vol, err := parseVolume(n.Value)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		v.v = vol
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil || len(list) < 2 || len(list) > 3 {
			return fmt.Errorf("line %d: volume: %s", n.Line, want)
		}
		if len(list) == 3 && list[2] != messages.VolumeReadOnly && list[2] != messages.VolumeReadWrite {
			return fmt.Errorf("line %d: volume mode %q: want ro or rw", n.Line, list[2])
		}
		v.v = list
		return nil
	}
	return fmt.Errorf("line %d: volume: %s", n.Line, want)
}

// parseVolume splits "HOST:CONTAINER[:ro|:rw]" into a task volume. Both
// paths are on the worker's host and in its container, so neither is
// resolved here; the worker checks the host path against its allowed
// roots. Without a mode the volume is read-only.
func parseVolume(s string) ([]string, error) {
	parts := strings.Split(s, ":")
	if len(parts) == 3 && parts[2] != messages.VolumeReadOnly && parts[2] != messages.VolumeReadWrite {
		return nil, fmt.Errorf("volume %q: mode %q: want ro or rw", s, parts[2])
	}
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return nil, fmt.Errorf("volume %q: want HOST:CONTAINER[:ro|:rw], two absolute paths", s)
	}
	return parts, nil
}
