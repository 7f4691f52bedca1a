package driver

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestMemoryUnmarshalJSON(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Memory
		wantErr string // substring of the error; "" means success
	}{
		{in: `"128M"`, want: 128 << 20},
		{in: `"128MB"`, want: 128 << 20},
		{in: `"128MiB"`, want: 128 << 20},
		{in: `"128m"`, want: 128 << 20},
		{in: `"1.5G"`, want: 3 << 29},
		{in: `"512KiB"`, want: 512 << 10},
		{in: `"2g"`, want: 2 << 30},
		{in: `"100b"`, want: 100},
		{in: ` "64M" `, want: 64 << 20},
		{in: `1048576`, want: 1 << 20},
		{in: `0`, want: 0},
		{in: `18446744073709551615`, want: Memory(^uint64(0))},
		{in: `"128"`, wantErr: "has no unit"},
		{in: `"1.5"`, wantErr: "has no unit"},
		{in: `"-5M"`, wantErr: "negative"},
		{in: `-5`, wantErr: "not a non-negative whole number"},
		{in: `1.5`, wantErr: "not a non-negative whole number"},
		{in: `1e6`, wantErr: "not a non-negative whole number"},
		{in: `"lots"`, wantErr: "is not a size"},
		{in: `"12XB"`, wantErr: "is not a size"},
		{in: `"M"`, wantErr: "is not a size"},
		{in: `""`, wantErr: "empty"},
		{in: `"99999999999999P"`, wantErr: "too large"},
		{in: `18446744073709551616`, wantErr: "too large"},
		{in: `true`, wantErr: "not a non-negative whole number"},
		{in: `{}`, wantErr: "not a non-negative whole number"},
	} {
		var m Memory
		err := json.Unmarshal([]byte(tc.in), &m)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.in, err)
		case tc.wantErr == "" && m != tc.want:
			t.Errorf("%s: got %d, want %d", tc.in, uint64(m), uint64(tc.want))
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s: got %d, want an error containing %q", tc.in, uint64(m), tc.wantErr)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q does not contain %q", tc.in, err, tc.wantErr)
		case tc.wantErr != "" && !strings.HasPrefix(err.Error(), "memory: "):
			t.Errorf("%s: error %q does not say it is about memory", tc.in, err)
		}
	}
}

// limitsJSON is a configuration struct holding Memory fields, as a caller's
// policy would.
type limitsJSON struct {
	DefaultMemory Memory `json:"default_memory,omitempty"`
	MaxMemory     Memory `json:"max_memory,omitempty"`
}

func TestMemoryInStruct(t *testing.T) {
	var c limitsJSON
	if err := json.Unmarshal([]byte(`{"default_memory":"128M","max_memory":1073741824}`), &c); err != nil {
		t.Fatal(err)
	}
	if c.DefaultMemory != 128<<20 || c.MaxMemory != 1<<30 {
		t.Fatalf("got default %d, max %d", c.DefaultMemory, c.MaxMemory)
	}
	// null leaves the value alone, like encoding/json does for numbers.
	c.DefaultMemory = 5
	if err := json.Unmarshal([]byte(`{"default_memory":null}`), &c); err != nil || c.DefaultMemory != 5 {
		t.Fatalf("null: got %d, %v; want 5 unchanged", c.DefaultMemory, err)
	}
	err := json.Unmarshal([]byte(`{"max_memory":"lots"}`), &c)
	if err == nil || !strings.Contains(err.Error(), `"lots"`) {
		t.Fatalf("garbage in a struct: got %v, want an error quoting the value", err)
	}
}

func TestMemoryJSONRoundTrip(t *testing.T) {
	for _, m := range []Memory{0, 1, 128 << 20, 3 << 29, 1<<40 + 17, Memory(^uint64(0))} {
		b, err := json.Marshal(limitsJSON{MaxMemory: m, DefaultMemory: m})
		if err != nil {
			t.Fatal(err)
		}
		var back limitsJSON
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%d: %s does not read back: %v", uint64(m), b, err)
		}
		if back.MaxMemory != m {
			t.Fatalf("%d: round trip through %s gave %d", uint64(m), b, uint64(back.MaxMemory))
		}
	}
	if b, _ := json.Marshal(Memory(128 << 20)); string(b) != "134217728" {
		t.Fatalf("Memory marshals as %s, want the JSON number 134217728", b)
	}
}

func TestMemoryUnmarshalText(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Memory
		wantErr string
	}{
		{in: "128M", want: 128 << 20},
		{in: "128MB", want: 128 << 20},
		{in: "1.5G", want: 3 << 29},
		{in: "512KiB", want: 512 << 10},
		{in: " 64m\n", want: 64 << 20},
		{in: "1048576", want: 1 << 20}, // flags and env: a bare number is bytes
		{in: "0", want: 0},
		{in: "", wantErr: "empty"},
		{in: "  ", wantErr: "empty"},
		{in: "-1", wantErr: "negative"},
		{in: "-1G", wantErr: "negative"},
		{in: "1.5", wantErr: "has no unit"},
		{in: "ten megs", wantErr: "is not a size"},
		{in: "99999999999999999999", wantErr: "too large"},
	} {
		var m Memory
		err := m.UnmarshalText([]byte(tc.in))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: unexpected error %v", tc.in, err)
		case tc.wantErr == "" && m != tc.want:
			t.Errorf("%q: got %d, want %d", tc.in, uint64(m), uint64(tc.want))
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: got %v, want an error containing %q", tc.in, err, tc.wantErr)
		}
	}
	// MarshalText output reads back exactly.
	m := Memory(1<<30 + 1)
	text, _ := m.MarshalText()
	var back Memory
	if err := back.UnmarshalText(text); err != nil || back != m {
		t.Fatalf("MarshalText %q read back as %d, %v", text, uint64(back), err)
	}
}

func TestMemoryString(t *testing.T) {
	for _, tc := range []struct {
		m    Memory
		want string
	}{
		{0, "0B"},
		{512, "512B"},
		{512 << 10, "512KiB"},
		{128 << 20, "128MiB"},
		{3 << 29, "1.5GiB"},
		{4 << 30, "4GiB"},
	} {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("Memory(%d).String() = %q, want %q", uint64(tc.m), got, tc.want)
		}
		// What String writes, UnmarshalText reads.
		var back Memory
		if err := back.UnmarshalText([]byte(tc.m.String())); err != nil || back != tc.m {
			t.Errorf("%q read back as %d, %v; want %d", tc.m.String(), uint64(back), err, uint64(tc.m))
		}
	}
}
