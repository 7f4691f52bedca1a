package messages

import (
	"bytes"
	"encoding/hex"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

var update = flag.Bool("update", false, "rewrite testdata/golden and the fuzz seed corpora from the current encoder")

// goldens are the messages whose exact bytes are pinned in
// testdata/golden/<name>.hex, with the keys the protocol lists for them.
var goldens = []struct {
	name string
	v    any
	keys []string // every key of the full message, as in docs/protocol.md
}{
	{"task", fullTask(), []string{"id", "image", "cmd", "env", "input", "labels", "timeout_ms", "memory", "cpus", "volumes", "workdir", "reply"}},
	{"task_minimal", &Task{ID: "t1", Image: "busybox"}, []string{"id", "image"}},
	{"cancel", fullCancel(), []string{"id", "reason"}},
	{"run", &Run{ID: "t1", Run: 2, Worker: "w1"}, []string{"id", "run", "worker"}},
	{"status", fullStatus(), []string{"id", "state", "detail", "worker", "attempt", "time"}},
	{"log", fullLog(), []string{"id", "stream", "seq", "data", "attempt"}},
	{"stat", fullStat(), []string{"id", "time", "metrics"}},
	{"result", fullResult(), []string{"id", "status", "exit_code", "error", "oom", "worker", "attempt", "started", "finished", "stats", "log_bytes", "log_dropped"}},
	{"task_artifacts", &Task{ID: "t1", Image: "busybox", InputObject: "t1/in/stdin",
		Inputs:  []Input{{Path: "/jetrun/in/data.csv", Object: "t1/in/data.csv", Kind: KindFile, Mode: 0o644, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"}},
		Outputs: []string{"/jetrun/out/report.txt"}}, []string{"id", "image", "inputs", "input_object", "outputs"}},
	{"result_artifacts", &Result{ID: "t1", Status: ResultSuccess, Finished: tFinish, Artifacts: []Artifact{
		{Path: "/jetrun/out/report.txt", State: ArtifactStored, Kind: KindFile, Size: 4, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Object: "t1/out/0"},
		{Path: "/jetrun/out/missing", State: ArtifactMissing}}},
		[]string{"id", "status", "exit_code", "finished", "log_bytes", "log_dropped", "artifacts"}},
	{"result_never_started", &Result{ID: "t1", Status: ResultError, ExitCode: -1, Error: "pull busybox: no such image", Attempt: 1, Finished: tFinish},
		[]string{"id", "status", "exit_code", "error", "attempt", "finished", "log_bytes", "log_dropped"}},
}

// TestGolden pins the exact bytes of every message. A failure here means the
// wire format changed: every deployed producer, worker and client must
// change with it. Run `go test ./messages -run Golden -update` only when that
// is intended, and say so in docs/protocol.md.
func TestGolden(t *testing.T) {
	for _, g := range goldens {
		t.Run(g.name, func(t *testing.T) {
			got, err := Encode(g.v)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "golden", g.name+".hex")
			if *update {
				if err := os.WriteFile(path, []byte(toHex(got)), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("wire bytes of %s changed:\n got\n%s\n want (%s)\n%s", g.name, toHex(got), path, toHex(want))
			}

			// The golden bytes carry exactly the protocol's keys.
			var raw map[string]msgpack.RawMessage
			if err := msgpack.Unmarshal(want, &raw); err != nil {
				t.Fatal(err)
			}
			keys := slices.Sorted(maps.Keys(raw))
			if wantKeys := slices.Sorted(slices.Values(g.keys)); !slices.Equal(keys, wantKeys) {
				t.Fatalf("keys %v, want %v", keys, wantKeys)
			}
			checkWireTypes(t, raw)
		})
	}
}

// checkWireTypes checks the MessagePack types the protocol fixes: times are
// the timestamp extension (type -1), binary is bin, durations and sizes are
// integers.
func checkWireTypes(t *testing.T, raw map[string]msgpack.RawMessage) {
	t.Helper()
	for k, v := range raw {
		switch k {
		case "time", "started", "finished":
			if !isTimestampExt(v) {
				t.Errorf("%s is % x, want a MessagePack timestamp extension (type -1)", k, v)
			}
		case "input", "data":
			if c := v[0]; c != 0xc4 && c != 0xc5 && c != 0xc6 {
				t.Errorf("%s starts 0x%02x, want bin", k, c)
			}
		case "timeout_ms", "memory", "cpus", "seq", "attempt", "run", "exit_code", "log_bytes", "log_dropped":
			if c := v[0]; !(c <= 0x7f || c >= 0xe0 || c >= 0xcc && c <= 0xd3) {
				t.Errorf("%s starts 0x%02x, want an integer", k, c)
			}
		case "stats":
			var stats []map[string]msgpack.RawMessage
			if err := msgpack.Unmarshal(v, &stats); err != nil {
				t.Fatal(err)
			}
			for _, s := range stats {
				if _, hasID := s["id"]; hasID || len(s) != 2 {
					t.Errorf("a stat inside a result has keys %v, want exactly time and metrics", slices.Sorted(maps.Keys(s)))
				}
				checkWireTypes(t, s)
			}
		}
	}
}

// isTimestampExt reports whether v is a fixext4, fixext8 or ext8(12) of
// type -1.
func isTimestampExt(v []byte) bool {
	switch {
	case len(v) == 6 && v[0] == 0xd6 && v[1] == 0xff,
		len(v) == 10 && v[0] == 0xd7 && v[1] == 0xff,
		len(v) == 15 && v[0] == 0xc7 && v[1] == 12 && v[2] == 0xff:
		return true
	}
	return false
}

func toHex(b []byte) string {
	var sb strings.Builder
	for len(b) > 0 {
		n := min(len(b), 32)
		sb.WriteString(hex.EncodeToString(b[:n]))
		sb.WriteByte('\n')
		b = b[n:]
	}
	return sb.String()
}

// TestDecodeForeignEncoding decodes payloads as another language's client
// might write them: keys in any order, keys jetrun does not know, wider
// integer encodings, str for bin, and a map with only some keys.
func TestDecodeForeignEncoding(t *testing.T) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	_ = enc.EncodeMapLen(6)
	_ = enc.EncodeString("future_field")
	_ = enc.Encode(map[string]any{"nested": []any{1, "two", 3.0, nil, true}})
	_ = enc.EncodeString("timeout_ms")
	_ = enc.EncodeUint64(1500) // fixed-width uint64
	_ = enc.EncodeString("image")
	_ = enc.EncodeString("busybox")
	_ = enc.EncodeString("input")
	_ = enc.EncodeString("as str") // str where bin is specified
	_ = enc.EncodeString("id")
	_ = enc.EncodeString("t1")
	_ = enc.EncodeString("another_unknown")
	_ = enc.EncodeExtHeader(5, 3)
	buf.Write([]byte{1, 2, 3})

	task, err := DecodeTask(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := &Task{ID: "t1", Image: "busybox", TimeoutMS: 1500, Input: []byte("as str")}
	if !reflect.DeepEqual(task, want) {
		t.Fatalf("got %+v, want %+v", task, want)
	}
	if err := task.Validate(); err != nil {
		t.Fatalf("a task with unknown keys does not validate: %v", err)
	}
	if task.Timeout() != 1500*time.Millisecond {
		t.Fatalf("Timeout() = %v", task.Timeout())
	}
}

// TestAbsentKeysAreZero decodes an empty map into every type.
func TestAbsentKeysAreZero(t *testing.T) {
	empty := []byte{0x80}
	for name, decode := range map[string]func([]byte) (any, error){
		"task":   func(b []byte) (any, error) { v, err := DecodeTask(b); return *v, err },
		"cancel": func(b []byte) (any, error) { v, err := DecodeCancel(b); return *v, err },
		"status": func(b []byte) (any, error) { v, err := DecodeStatus(b); return *v, err },
		"log":    func(b []byte) (any, error) { v, err := DecodeLog(b); return *v, err },
		"stat":   func(b []byte) (any, error) { v, err := DecodeStat(b); return *v, err },
		"result": func(b []byte) (any, error) { v, err := DecodeResult(b); return *v, err },
	} {
		got, err := decode(empty)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.ValueOf(got).IsZero() {
			t.Errorf("%s: empty map decoded to %+v, want the zero value", name, got)
		}
	}
	// Explicit nils mean the same as absent keys.
	r, err := DecodeResult([]byte{0x82, 0xa7, 's', 't', 'a', 'r', 't', 'e', 'd', 0xc0, 0xa5, 's', 't', 'a', 't', 's', 0xc0})
	if err != nil || !r.Started.IsZero() || r.Stats != nil {
		t.Fatalf("nil started/stats: %+v, %v", r, err)
	}
}

// TestResultStartedOmitted checks that a result of a task that never started
// has no "started" key at all, and that it decodes back to the zero time.
func TestResultStartedOmitted(t *testing.T) {
	b, _ := Encode(&Result{ID: "t1", Status: ResultError, ExitCode: -1, Finished: tFinish})
	var raw map[string]msgpack.RawMessage
	if err := msgpack.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["started"]; ok {
		t.Fatal(`"started" is on the wire for a task that never started`)
	}
	if _, ok := raw["finished"]; !ok {
		t.Fatal(`"finished" is missing`)
	}
	r, _ := DecodeResult(b)
	if !r.Started.IsZero() || !r.Finished.Equal(tFinish) {
		t.Fatalf("started %v finished %v", r.Started, r.Finished)
	}
}

// TestNilValues decodes explicit nils, which some encoders write for unset
// fields: they mean the same as absent keys, and must never crash.
func TestNilValues(t *testing.T) {
	enc := func(m map[string]any) []byte {
		b, err := msgpack.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st, err := DecodeStatus(enc(map[string]any{"id": "t1", "time": nil, "attempt": nil}))
	if err != nil || !st.Time.IsZero() || st.ID != "t1" {
		t.Fatalf("status with nil time: %+v, %v", st, err)
	}
	sa, err := DecodeStat(enc(map[string]any{"time": nil, "metrics": nil}))
	if err != nil || !sa.Time.IsZero() || sa.Metrics != nil {
		t.Fatalf("stat with nil time: %+v, %v", sa, err)
	}
	r, err := DecodeResult(enc(map[string]any{"id": "t1", "started": nil, "finished": nil, "stats": []any{nil, map[string]any{"time": nil}}}))
	if err != nil || !r.Started.IsZero() || !r.Finished.IsZero() || len(r.Stats) != 2 || !r.Stats[0].Time.IsZero() {
		t.Fatalf("result with nil times: %+v, %v", r, err)
	}
	task, err := DecodeTask(enc(map[string]any{"id": "t1", "image": "busybox", "cmd": nil, "env": nil, "input": nil, "volumes": []any{nil}}))
	if err != nil || task.Cmd != nil || task.Env != nil || task.Input != nil || len(task.Volumes) != 1 {
		t.Fatalf("task with nils: %+v, %v", task, err)
	}
	if err := task.Validate(); err == nil || !strings.Contains(err.Error(), "volumes[0]") {
		t.Fatalf("a nil volume validated: %v", err)
	}
}

// TestWireTypesMirror checks that the decoding mirrors in codec.go carry the
// same keys, in the same order, as the types they mirror.
func TestWireTypesMirror(t *testing.T) {
	keys := func(typ reflect.Type) []string {
		var out []string
		for i := range typ.NumField() {
			out = append(out, typ.Field(i).Name+" "+typ.Field(i).Tag.Get("msgpack"))
		}
		return out
	}
	for _, pair := range [][2]any{{Status{}, statusWire{}}, {Stat{}, statWire{}}, {Result{}, resultWire{}}, {Summary{}, summaryWire{}}} {
		a, b := keys(reflect.TypeOf(pair[0])), keys(reflect.TypeOf(pair[1]))
		if !slices.Equal(a, b) {
			t.Errorf("%T and %T differ:\n %v\n %v", pair[0], pair[1], a, b)
		}
	}
}
