package driver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	units "github.com/docker/go-units"
)

// Memory is a size in bytes. It reads JSON numbers (bytes) and strings with
// a unit ("128M", "128MB", "1.5G", "512KiB"), with binary multiples as
// Docker reads them: "M", "MB" and "MiB" all mean 2^20 bytes. It writes
// itself as a JSON number of bytes, so it survives a JSON round trip.
type Memory uint64

// String formats m with a binary unit rounded to four significant digits,
// e.g. "128MiB" or "1.5GiB"; UnmarshalText reads it back (to within that
// rounding).
func (m Memory) String() string {
	return units.BytesSize(float64(m))
}

// UnmarshalText parses a size with a unit ("128M", "1.5GiB") or a plain
// number of bytes ("1048576"), as given in flags and environment variables.
// Garbage, negative sizes and sizes beyond 2^64 bytes are errors.
func (m *Memory) UnmarshalText(text []byte) error {
	s := string(bytes.TrimSpace(text))
	if s == "" {
		return fmt.Errorf("memory: empty size (want e.g. 128M, 1.5G, 512KiB)")
	}
	if isDigits(s) {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return fmt.Errorf("memory: %q is too large", s)
		}
		*m = Memory(n)
		return nil
	}
	return m.parseWithUnit(s)
}

// parseWithUnit reads s, which must end with a unit.
func (m *Memory) parseWithUnit(s string) error {
	if s == "" {
		return fmt.Errorf("memory: empty size (want e.g. 128M, 1.5G, 512KiB)")
	}
	if s[0] == '-' {
		return fmt.Errorf("memory: %q is negative", s)
	}
	if last := s[len(s)-1]; !('a' <= last && last <= 'z' || 'A' <= last && last <= 'Z') {
		return fmt.Errorf("memory: %q has no unit (want e.g. 128M, 1.5G, 512KiB)", s)
	}
	n, err := units.RAMInBytes(s)
	if err != nil {
		return fmt.Errorf("memory: %q is not a size (want e.g. 128M, 1.5G, 512KiB): %w", s, err)
	}
	// RAMInBytes converts a float to int64; values beyond its range come
	// back negative (or saturated), so treat them as too large.
	if n < 0 || n == math.MaxInt64 {
		return fmt.Errorf("memory: %q is too large", s)
	}
	*m = Memory(n)
	return nil
}

// UnmarshalJSON accepts a JSON number of bytes or a JSON string with a unit
// ("128M"); a string without a unit is refused, since its meaning would be
// a guess. null leaves m unchanged. The seed's version could never parse a
// quoted JSON string; this one does.
func (m *Memory) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if string(data) == "null" {
		return nil
	}
	if len(data) > 0 && data[0] == '"' {
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return fmt.Errorf("memory: %w", err)
		}
		return m.parseWithUnit(s)
	}
	if !isDigits(string(data)) {
		return fmt.Errorf("memory: %s is not a non-negative whole number of bytes or a string such as \"128M\"", data)
	}
	n, err := strconv.ParseUint(string(data), 10, 64)
	if err != nil {
		return fmt.Errorf("memory: %s is too large", data)
	}
	*m = Memory(n)
	return nil
}

// MarshalJSON writes m as a JSON number of bytes, which UnmarshalJSON reads
// back exactly.
func (m Memory) MarshalJSON() ([]byte, error) {
	return strconv.AppendUint(nil, uint64(m), 10), nil
}

// MarshalText writes m as a plain number of bytes, which UnmarshalText reads
// back exactly.
func (m Memory) MarshalText() ([]byte, error) {
	return strconv.AppendUint(nil, uint64(m), 10), nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
