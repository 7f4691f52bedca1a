package driver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	units "github.com/docker/go-units"
)

// Memory is a size in bytes. It unmarshals from JSON numbers (bytes) and
// from strings with a unit ("128M", "128MB", "1.5G", "512KiB"), read with
// binary multiples as Docker does (1M = 1 MiB).
type Memory uint64

// String formats m with a binary unit, e.g. "128MiB".
func (m Memory) String() string {
	return units.BytesSize(float64(m))
}

// UnmarshalText parses a size with a unit ("128M", "1.5GiB") or a plain
// number of bytes, as given in flags and environment variables.
func (m *Memory) UnmarshalText(text []byte) error {
	s := string(bytes.TrimSpace(text))
	if s == "" {
		return fmt.Errorf("memory: empty size")
	}
	if n, err := strconv.ParseUint(s, 10, 64); err == nil {
		*m = Memory(n)
		return nil
	}
	return m.parseWithUnit(s)
}

func (m *Memory) parseWithUnit(s string) error {
	if s == "" || s[len(s)-1] < 'A' || (s[len(s)-1] > 'Z' && s[len(s)-1] < 'a') || s[len(s)-1] > 'z' {
		return fmt.Errorf("memory: %q has no unit (want e.g. 128M, 1.5G, 512KiB)", s)
	}
	n, err := units.RAMInBytes(s)
	if err != nil {
		return fmt.Errorf("memory: %q is not a size: %w", s, err)
	}
	if n < 0 {
		return fmt.Errorf("memory: %q is negative", s)
	}
	*m = Memory(n)
	return nil
}

// UnmarshalJSON accepts a JSON number of bytes or a JSON string with a unit.
// The seed's version could never parse a quoted JSON string; this one does.
func (m *Memory) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		return m.parseWithUnit(s)
	}
	n, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("memory: %s is not a non-negative whole number of bytes", data)
	}
	*m = Memory(n)
	return nil
}

// MarshalText writes m as a plain number of bytes, which UnmarshalText and
// UnmarshalJSON read back exactly.
func (m Memory) MarshalText() ([]byte, error) {
	return strconv.AppendUint(nil, uint64(m), 10), nil
}
