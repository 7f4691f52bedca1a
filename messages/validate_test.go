package messages

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestTaskValidate(t *testing.T) {
	long := strings.Repeat("a", MaxIDLen)
	for _, tc := range []struct {
		name      string
		mod       func(*Task)
		wantField string // "" means valid
		wantWhy   string
	}{
		{name: "full task is valid", mod: func(*Task) {}},
		{name: "minimal task is valid", mod: func(t *Task) { *t = Task{ID: "x", Image: "busybox"} }},
		{name: "id of max length", mod: func(t *Task) { t.ID = long }},
		{name: "digest image", mod: func(t *Task) { t.Image = "busybox@sha256:" + strings.Repeat("ab", 32) }},
		{name: "empty arg is fine", mod: func(t *Task) { t.Cmd = []string{"echo", ""} }},
		{name: "empty env value is fine", mod: func(t *Task) { t.Env = map[string]string{"EMPTY": ""} }},

		{name: "missing id", mod: func(t *Task) { t.ID = "" }, wantField: "id", wantWhy: "required"},
		{name: "id too long", mod: func(t *Task) { t.ID = long + "a" }, wantField: "id", wantWhy: "more than 128"},
		{name: "id with dot", mod: func(t *Task) { t.ID = "a.b" }, wantField: "id", wantWhy: "'.'"},
		{name: "id with wildcard", mod: func(t *Task) { t.ID = "*" }, wantField: "id", wantWhy: "'*'"},
		{name: "id with space", mod: func(t *Task) { t.ID = "a b" }, wantField: "id", wantWhy: "' '"},
		{name: "id non-ascii", mod: func(t *Task) { t.ID = "tâche" }, wantField: "id", wantWhy: "only A-Z"},
		{name: "missing image", mod: func(t *Task) { t.Image = "" }, wantField: "image", wantWhy: "required"},
		{name: "bad image", mod: func(t *Task) { t.Image = "Busybox" }, wantField: "image", wantWhy: "not a valid image reference"},
		{name: "bad image tag", mod: func(t *Task) { t.Image = "busybox:a b" }, wantField: "image", wantWhy: "not a valid image reference"},
		{name: "image too long", mod: func(t *Task) { t.Image = strings.Repeat("a", MaxImageLen+1) }, wantField: "image", wantWhy: "more than"},
		{name: "NUL in arg", mod: func(t *Task) { t.Cmd = []string{"a", "b\x00"} }, wantField: "cmd[1]", wantWhy: "NUL"},
		{name: "too many args", mod: func(t *Task) { t.Cmd = make([]string, MaxArgs+1) }, wantField: "cmd", wantWhy: "more than"},
		{name: "empty env name", mod: func(t *Task) { t.Env = map[string]string{"": "x"} }, wantField: "env", wantWhy: "empty name"},
		{name: "env name with =", mod: func(t *Task) { t.Env = map[string]string{"A=B": "x"} }, wantField: "env[A=B]", wantWhy: "'='"},
		{name: "NUL in env value", mod: func(t *Task) { t.Env = map[string]string{"A": "\x00"} }, wantField: "env[A]", wantWhy: "NUL"},
		{name: "input too large", mod: func(t *Task) { t.Input = make([]byte, MaxInputBytes+1) }, wantField: "input", wantWhy: "more than 1048576"},
		{name: "reserved label", mod: func(t *Task) { t.Labels = map[string]string{"jetrun.task": "x"} }, wantField: "labels[jetrun.task]", wantWhy: "reserved"},
		{name: "empty label key", mod: func(t *Task) { t.Labels = map[string]string{"": "x"} }, wantField: "labels", wantWhy: "empty key"},
		{name: "negative timeout", mod: func(t *Task) { t.TimeoutMS = -1 }, wantField: "timeout_ms", wantWhy: "negative"},
		{name: "huge timeout", mod: func(t *Task) { t.TimeoutMS = MaxTimeoutMS + 1 }, wantField: "timeout_ms", wantWhy: "7 days"},
		{name: "negative memory", mod: func(t *Task) { t.Memory = -1 }, wantField: "memory", wantWhy: "negative"},
		{name: "huge memory", mod: func(t *Task) { t.Memory = MaxMemoryBytes + 1 }, wantField: "memory", wantWhy: "1 TiB"},
		{name: "negative cpus", mod: func(t *Task) { t.CPUs = -5 }, wantField: "cpus", wantWhy: "negative"},
		{name: "huge cpus", mod: func(t *Task) { t.CPUs = MaxCPUs + 1 }, wantField: "cpus", wantWhy: "more than"},
		{name: "volume not a pair", mod: func(t *Task) { t.Volumes = [][]string{{"/a"}} }, wantField: "volumes[0]", wantWhy: "1 elements"},
		{name: "volume quadruple", mod: func(t *Task) { t.Volumes = [][]string{{"/a", "/b", "ro", "x"}} }, wantField: "volumes[0]", wantWhy: "4 elements"},
		{name: "volume mode", mod: func(t *Task) { t.Volumes = [][]string{{"/a", "/b", "RW"}} }, wantField: "volumes[0][2]", wantWhy: "mode"},
		{name: "relative host path", mod: func(t *Task) { t.Volumes = [][]string{{"data", "/in"}} }, wantField: "volumes[0][0]", wantWhy: "not absolute"},
		{name: "relative container path", mod: func(t *Task) { t.Volumes = [][]string{{"/data", "in"}} }, wantField: "volumes[0][1]", wantWhy: "not absolute"},
		{name: "empty container path", mod: func(t *Task) { t.Volumes = [][]string{{"/data", ""}} }, wantField: "volumes[0][1]", wantWhy: "empty"},
		{name: "colon in path", mod: func(t *Task) { t.Volumes = [][]string{{"/data:/etc", "/in"}} }, wantField: "volumes[0][0]", wantWhy: "':'"},
		{name: "mount over root", mod: func(t *Task) { t.Volumes = [][]string{{"/data", "/x/.."}} }, wantField: "volumes[0][1]", wantWhy: "may not be /"},
		{name: "duplicate target", mod: func(t *Task) { t.Volumes = [][]string{{"/a", "/in"}, {"/b", "/in/"}} }, wantField: "volumes[1][1]", wantWhy: "already mounted by volumes[0]"},
		{name: "relative workdir", mod: func(t *Task) { t.Workdir = "work" }, wantField: "workdir", wantWhy: "not absolute"},
		{name: "reply wildcard", mod: func(t *Task) { t.Reply = "a.*" }, wantField: "reply", wantWhy: "wildcard"},
		{name: "reply full wildcard", mod: func(t *Task) { t.Reply = "a.>" }, wantField: "reply", wantWhy: "wildcard"},
		{name: "reply space", mod: func(t *Task) { t.Reply = "a b" }, wantField: "reply", wantWhy: "white space"},
		{name: "reply empty token", mod: func(t *Task) { t.Reply = "a..b" }, wantField: "reply", wantWhy: "empty token"},
		{name: "reply trailing dot", mod: func(t *Task) { t.Reply = "a." }, wantField: "reply", wantWhy: "empty token"},
		{name: "reply too long", mod: func(t *Task) { t.Reply = strings.Repeat("a", MaxSubjectLen+1) }, wantField: "reply", wantWhy: "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := fullTask()
			tc.mod(task)
			err := task.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v (%T), want a *ValidationError", err, err)
			}
			if ve.Field != tc.wantField || !strings.Contains(ve.Reason, tc.wantWhy) {
				t.Fatalf("got field %q reason %q, want field %q and a reason containing %q", ve.Field, ve.Reason, tc.wantField, tc.wantWhy)
			}
			if !strings.HasPrefix(err.Error(), "invalid task: "+tc.wantField+": ") {
				t.Fatalf("message %q does not lead with the field", err)
			}
		})
	}
}

func TestCancelValidate(t *testing.T) {
	for _, tc := range []struct {
		c         Cancel
		wantField string
	}{
		{Cancel{ID: "t1"}, ""},
		{Cancel{ID: "t1", Reason: "because"}, ""},
		{Cancel{}, "id"},
		{Cancel{ID: "a.b"}, "id"},
		{Cancel{ID: "t1", Reason: strings.Repeat("x", MaxReasonLen+1)}, "reason"},
		{Cancel{ID: "t1", Reason: "\xff"}, "reason"},
	} {
		err := tc.c.Validate()
		if tc.wantField == "" {
			if err != nil {
				t.Errorf("%+v: unexpected %v", tc.c, err)
			}
			continue
		}
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != tc.wantField || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: got %v, want a ValidationError on %s", tc.c, err, tc.wantField)
			continue
		}
		if !strings.HasPrefix(err.Error(), "invalid cancel: ") {
			t.Errorf("%+v: message %q does not say cancel", tc.c, err)
		}
	}
}

func TestSubjects(t *testing.T) {
	s := NewSubjects("")
	for got, want := range map[string]string{
		s.Task(""):               "jetrun.tasks.default",
		s.Task("gpu"):            "jetrun.tasks.gpu",
		s.AllTasks():             "jetrun.tasks.>",
		s.Cancel("t1"):           "jetrun.cancel.t1",
		s.AllCancels():           "jetrun.cancel.*",
		s.AllEvents():            "jetrun.events.>",
		s.Events("t1"):           "jetrun.events.t1",
		s.Reply(&Task{ID: "t1"}): "jetrun.events.t1",
		s.Reply(&Task{ID: "t1", Reply: "my.inbox"}): "my.inbox",
		StatusSubject("R"):                          "R.status",
		LogSubject("R"):                             "R.log",
		StatSubject("R"):                            "R.stat",
		ResultSubject("R"):                          "R.result",
		ResultMsgID("t1"):                           "t1.result",
		RunMsgID("t1", 3):                           "t1.run.3",
		TaskMsgID("t1"):                             "t1",
		ConsumerName("gpu"):                         "jetrun-gpu",
		s.AllResults():                              "jetrun.events.*.result",
		NewSubjects("acme.jr").Task("q"):            "acme.jr.tasks.q",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	for _, p := range []string{"jetrun", "acme.jetrun", "a-b_c"} {
		if err := ValidPrefix(p); err != nil {
			t.Errorf("ValidPrefix(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "a.*", ">", "a b", "a.", ".a", "$JS", "a.b$"} {
		if err := ValidPrefix(p); err == nil {
			t.Errorf("ValidPrefix(%q) = nil, want an error", p)
		}
	}
	for q, ok := range map[string]bool{"default": true, "gpu-2": true, "": false, "a.b": false, "*": false} {
		if err := ValidQueue(q); (err == nil) != ok {
			t.Errorf("ValidQueue(%q) = %v", q, err)
		}
	}
}

func TestValidateTaskReplyUnderReservedSubjects(t *testing.T) {
	s := NewSubjects("jetrun")
	for reply, ok := range map[string]bool{
		"":                     true,
		"jetrun.events.t1":     true,
		"my.inbox":             true,
		"jetrun.tasksx":        true, // a different token
		"jetrun.tasks":         false,
		"jetrun.tasks.default": false,
		"jetrun.cancel.t1":     false,
		"jetrun.cancel":        false,
		"jetrun.events":        false,
		"jetrun.events.victim": false, // another task's events: a forged result
		"jetrun.events.t1.sub": false,
		"jetrun.events.d1x$":   false, // NATS allows "$"; jetrun's alphabet does not
		"_INBOX.abc.t1":        true,
		"jetrun.eventsx.t1":    true,
	} {
		task := &Task{ID: "t1", Image: "busybox", Reply: reply}
		a, err := s.Check(task)
		if (err == nil) != ok {
			t.Errorf("reply %q: got %v", reply, err)
		}
		if err := s.ValidateTask(task); (err == nil) != ok {
			t.Errorf("ValidateTask: reply %q: got %v", reply, err)
		}
		if stored := reply == "" || reply == "jetrun.events.t1"; ok && a.Stored != stored {
			t.Errorf("reply %q: Stored = %v, want %v", reply, a.Stored, stored)
		}
		if ok && a.Image.String() != "docker.io/library/busybox:latest" {
			t.Errorf("reply %q: Image = %q", reply, a.Image)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("reply %q: %v is not ErrInvalid", reply, err)
		}
	}
	if err := s.ValidateTask(&Task{}); err == nil {
		t.Error("ValidateTask skipped Validate")
	}
}

func TestResultTask(t *testing.T) {
	s := NewSubjects("")
	for subject, want := range map[string]string{
		"jetrun.events.t1.result":   "t1",
		"jetrun.events.t1.status":   "",
		"jetrun.events.a.b.result":  "",
		"other.events.t1.result":    "",
		"jetrun.events..result":     "",
		"jetrun.events.t1.result.x": "",
	} {
		id, ok := s.ResultTask(subject)
		if id != want || ok != (want != "") {
			t.Errorf("ResultTask(%q) = %q, %v; want %q", subject, id, ok, want)
		}
	}
}

func TestPeekTask(t *testing.T) {
	wrongType, err := Encode(map[string]any{"id": "t1", "reply": "my.inbox", "cmd": 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeTask(wrongType); err == nil {
		t.Fatal("DecodeTask accepted cmd: 5")
	}
	if id, reply := PeekTask(wrongType); id != "t1" || reply != "my.inbox" {
		t.Errorf("PeekTask = %q, %q; want t1, my.inbox", id, reply)
	}
	numID, _ := Encode(map[string]any{"id": 7})
	if id, _ := PeekTask(numID); id != "" {
		t.Errorf("PeekTask of a numeric id = %q, want empty", id)
	}
	// A million nested arrays next to a readable id: the bounded decoder
	// refuses the whole message rather than recurse into it.
	deep := append([]byte{0x82, 0xa2, 'i', 'd', 0xa2, 't', '1', 0xa1, 'x'}, bytes.Repeat([]byte{0x91}, 1<<20)...)
	deep = append(deep, 0xc0)
	if id, reply := PeekTask(deep); id != "" || reply != "" {
		t.Errorf("PeekTask of a deeply nested message = %q, %q; want nothing", id, reply)
	}
}

// A value of the wrong type, or an integer its key's type cannot hold, is
// reported with the key and what it wants, as docs/protocol.md promises.
func TestDecodeErrorsNameTheKey(t *testing.T) {
	for _, tc := range []struct {
		in   map[string]any
		key  string
		want string
	}{
		{map[string]any{"id": "t1", "image": "x", "cmd": 42}, "cmd", "want an array of strings, got an integer"},
		{map[string]any{"id": "t1", "image": "x", "env": []string{"A=1"}}, "env", "want a map of strings, got an array"},
		{map[string]any{"id": "t1", "image": 7}, "image", "want a string, got an integer"},
		{map[string]any{"id": "t1", "image": "x", "volumes": []any{"a"}}, "volumes", "want an array of arrays of strings"},
		{map[string]any{"id": "t1", "image": "x", "memory": uint64(math.MaxUint64)}, "memory", "18446744073709551615 is out of range"},
		{map[string]any{"id": "t1", "image": "x", "timeout_ms": uint64(1 << 63)}, "timeout_ms", "is out of range"},
	} {
		data, err := Encode(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = DecodeTask(data)
		var de *DecodeError
		if !errors.As(err, &de) || de.Key != tc.key || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `key "`+tc.key+`"`) {
			t.Errorf("%v: got %v, want a DecodeError for key %q containing %q", tc.in, err, tc.key, tc.want)
		}
	}
	// A large unsigned value where the type holds it is fine.
	data, _ := Encode(map[string]any{"id": "t1", "metrics": map[string]uint64{"cpu_total": math.MaxUint64}})
	if s, err := DecodeStat(data); err != nil || s.Metrics["cpu_total"] != math.MaxUint64 {
		t.Errorf("stat with a uint64 metric: %v, %v", s, err)
	}
}

func TestClip(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"abcdefghij", 6, "abc…"},
		{"ééé", 5, "é…"}, // never half a character
		{"a\xffb", 10, "a\uFFFDb"},
	} {
		if got := Clip(tc.in, tc.max); got != tc.want || len(got) > tc.max && len(tc.in) > tc.max {
			t.Errorf("Clip(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestVolumeModes(t *testing.T) {
	task := &Task{ID: "t1", Image: "busybox", Volumes: [][]string{{"/a", "/a"}, {"/b", "/b", "ro"}, {"/c", "/c", "rw"}}}
	if err := task.Validate(); err != nil {
		t.Fatalf("volumes with and without modes: %v", err)
	}
	for i, want := range []bool{false, false, true} {
		if got := VolumeWritable(task.Volumes[i]); got != want {
			t.Errorf("VolumeWritable(%q) = %v, want %v", task.Volumes[i], got, want)
		}
	}
}
