package messages

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var (
	tStart  = time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	tFinish = tStart.Add(90*time.Second + 5*time.Millisecond)
)

// Full messages: every field set, so the golden files pin every key.
func fullTask() *Task {
	return &Task{
		ID:        "task-1_A",
		Image:     "localhost:5000/tools/echo:v2",
		Cmd:       []string{"sh", "-c", "echo hi"},
		Env:       map[string]string{"B": "2", "A": "1"},
		Input:     []byte{0x00, 0x01, 0xfe, 0xff, 'h', 'i'},
		Labels:    map[string]string{"team": "infra"},
		TimeoutMS: 30000,
		Memory:    256 << 20,
		CPUs:      500,
		Volumes:   [][]string{{"/data/in", "/in"}},
		Workdir:   "/work",
		Reply:     "replies.abc",
	}
}

func fullCancel() *Cancel { return &Cancel{ID: "task-1_A", Reason: "user asked"} }

func fullStatus() *Status {
	return &Status{ID: "task-1_A", State: StatePulling, Detail: "pulling busybox: 12.5 MiB / 40 MiB", Worker: "w1", Attempt: 2, Time: tStart}
}

func fullLog() *Log {
	return &Log{ID: "task-1_A", Stream: StreamStderr, Seq: 7, Data: []byte("oops\n\x00\xff"), Attempt: 2}
}

func fullStat() *Stat {
	return &Stat{ID: "task-1_A", Time: tStart, Metrics: map[string]uint64{"mem_usage": 1 << 20, "cpu_total": 123456789012, "pids": 3}}
}

func fullResult() *Result {
	return &Result{
		ID: "task-1_A", Status: ResultKilled, ExitCode: -1, Error: "out of memory", OOM: true, Worker: "w1", Attempt: 2,
		Started: tStart, Finished: tFinish,
		Stats: []Stat{
			{Time: tStart.Add(time.Second), Metrics: map[string]uint64{"mem_usage": 100}},
			{Time: tStart.Add(2 * time.Second), Metrics: map[string]uint64{"mem_usage": 200, "mem_limit": 256 << 20}},
		},
		LogBytes: 4096, LogDropped: 1 << 33,
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name   string
		v      any
		decode func([]byte) (any, error)
	}{
		{"task", fullTask(), func(b []byte) (any, error) { return DecodeTask(b) }},
		{"task minimal", &Task{ID: "x", Image: "busybox"}, func(b []byte) (any, error) { return DecodeTask(b) }},
		{"cancel", fullCancel(), func(b []byte) (any, error) { return DecodeCancel(b) }},
		{"status", fullStatus(), func(b []byte) (any, error) { return DecodeStatus(b) }},
		{"log", fullLog(), func(b []byte) (any, error) { return DecodeLog(b) }},
		{"stat", fullStat(), func(b []byte) (any, error) { return DecodeStat(b) }},
		{"result", fullResult(), func(b []byte) (any, error) { return DecodeResult(b) }},
		{"result never started", &Result{ID: "x", Status: ResultError, ExitCode: -1, Error: "no such image", Finished: tFinish},
			func(b []byte) (any, error) { return DecodeResult(b) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tc.decode(b)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tc.v) {
				t.Fatalf("round trip changed the message:\n got  %+v\n want %+v", got, tc.v)
			}
			again, _ := Encode(got)
			if string(again) != string(b) {
				t.Fatal("encoding the decoded message gave different bytes")
			}
		})
	}
}

func TestEncodeDeterministic(t *testing.T) {
	for _, v := range []func() any{
		func() any { return fullTask() },
		func() any { return fullStat() },
		func() any { return fullResult() },
	} {
		first, _ := Encode(v())
		for range 20 { // map iteration order differs run to run
			if b, _ := Encode(v()); string(b) != string(first) {
				t.Fatalf("the same %T encoded to different bytes", v())
			}
		}
	}
}

func TestDecodeTimesInUTC(t *testing.T) {
	local := time.FixedZone("X", 5*3600)
	b, _ := Encode(&Status{ID: "x", State: StateRunning, Time: tStart.In(local)})
	s, err := DecodeStatus(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Time.Location() != time.UTC || !s.Time.Equal(tStart) {
		t.Fatalf("decoded time %v, want %v in UTC", s.Time, tStart)
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, _ := Encode(fullTask())
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty payload"},
		{"not msgpack", []byte("{\"id\":\"x\"}"), "not a map"},
		{"nil", []byte{0xc0}, "not a map"},
		{"array", []byte{0x92, 0xa1, 'x', 0xa1, 'y'}, "not a map"},
		{"truncated", valid[:len(valid)-3], "truncated"},
		{"trailing bytes", append(append([]byte{}, valid...), 0x00), "trailing"},
		{"wrong type", []byte{0x81, 0xa2, 'i', 'd', 0x92, 0x01, 0x02}, "decode task"},
		{"huge array claim", []byte{0x81, 0xa7, 'v', 'o', 'l', 'u', 'm', 'e', 's', 0xdd, 0xff, 0xff, 0xff, 0xff}, "values declared"},
		{"huge map claim", []byte{0x81, 0xa3, 'e', 'n', 'v', 0xdf, 0xff, 0xff, 0xff, 0xff}, "values declared"},
		{"huge string claim", []byte{0x81, 0xa2, 'i', 'd', 0xdb, 0xff, 0xff, 0xff, 0xff}, "truncated"},
		{"reserved code", []byte{0x81, 0xa1, 'x', 0xc1}, "reserved"},
		{"too deep", deep(MaxDepth + 2), "deeper"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task, err := DecodeTask(tc.data)
			if err == nil {
				t.Fatalf("decoded %+v, want an error", task)
			}
			var de *DecodeError
			if !errors.As(err, &de) || !errors.Is(err, ErrUndecodable) || errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v (%T) is not a *DecodeError wrapping ErrUndecodable only", err, err)
			}
			if de.What != "task" || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want it to name the task and contain %q", err, tc.want)
			}
		})
	}
	// Nesting within MaxDepth in an unknown key is fine.
	if _, err := DecodeTask(deep(MaxDepth - 1)); err != nil {
		t.Fatalf("nesting %d deep: %v", MaxDepth-1, err)
	}
}

// deep returns a task map whose unknown key "z" holds arrays nested so that
// the payload's total depth is depth.
func deep(depth int) []byte {
	b := []byte{0x81, 0xa1, 'z'}
	for range depth - 1 {
		b = append(b, 0x91)
	}
	return append(b, 0x01)
}

func TestValidationVsDecode(t *testing.T) {
	b, _ := Encode(&Task{ID: "bad id", Image: "busybox"})
	task, err := DecodeTask(b)
	if err != nil {
		t.Fatalf("a well-formed but invalid task must decode: %v", err)
	}
	err = task.Validate()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || errors.Is(err, ErrUndecodable) {
		t.Fatalf("got %v (%T), want a *ValidationError wrapping ErrInvalid only", err, err)
	}
	if ve.Field != "id" || err.Error() != `invalid task: id: "bad id" has ' ' at position 3; only A-Z a-z 0-9 _ - are allowed` {
		t.Fatalf("error %q (field %q)", err, ve.Field)
	}
}
