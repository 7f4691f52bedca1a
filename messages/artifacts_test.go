package messages

import (
	"errors"
	"strings"
	"testing"
)

func TestArtifactsValidate(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	base := func() *Task {
		return &Task{ID: "t1", Image: "busybox",
			Inputs:  []Input{{Path: "/jetrun/in/data.csv", Object: "t1/in/data.csv", SHA256: sum}, {Path: "/jetrun/in/tree", Object: "t1/in/tree", Kind: KindDir}},
			Outputs: []string{"/jetrun/out/report.txt", "/jetrun/out/dir"},
		}
	}
	for _, tc := range []struct {
		name      string
		mod       func(*Task)
		wantField string
		wantWhy   string
	}{
		{name: "valid", mod: func(*Task) {}},
		{name: "stdin object", mod: func(t *Task) { t.InputObject = "t1/in/stdin" }},
		{name: "another task's object", mod: func(t *Task) { t.Inputs[0].Object = "t2/in/data.csv" }, wantField: "inputs[0].object", wantWhy: `not under this task's objects "t1/in/"`},
		{name: "an output object", mod: func(t *Task) { t.Inputs[0].Object = "t1/out/0" }, wantField: "inputs[0].object", wantWhy: "not under this task's objects"},
		{name: "object escaping with ..", mod: func(t *Task) { t.Inputs[0].Object = "t1/in/../../t2/in/x" }, wantField: "inputs[0].object", wantWhy: "starts with '.'"},
		{name: "object with slash", mod: func(t *Task) { t.Inputs[0].Object = "t1/in/a/b" }, wantField: "inputs[0].object", wantWhy: "'/'"},
		{name: "object dot", mod: func(t *Task) { t.Inputs[0].Object = "t1/in/.." }, wantField: "inputs[0].object", wantWhy: "starts with '.'"},
		{name: "object empty suffix", mod: func(t *Task) { t.Inputs[0].Object = "t1/in/" }, wantField: "inputs[0].object", wantWhy: "empty"},
		{name: "stdin object of another task", mod: func(t *Task) { t.InputObject = "x/in/y" }, wantField: "input_object", wantWhy: "not under"},
		{name: "stdin object with input", mod: func(t *Task) { t.InputObject = "t1/in/y"; t.Input = []byte("x") }, wantField: "input_object", wantWhy: "together with input"},
		{name: "relative path", mod: func(t *Task) { t.Inputs[0].Path = "in/x" }, wantField: "inputs[0].path", wantWhy: "not absolute"},
		{name: "dotdot path", mod: func(t *Task) { t.Inputs[0].Path = "/jetrun/../etc/passwd" }, wantField: "inputs[0].path", wantWhy: `".." element`},
		{name: "root path", mod: func(t *Task) { t.Inputs[0].Path = "/." }, wantField: "inputs[0].path", wantWhy: "may not be /"},
		{name: "duplicate path", mod: func(t *Task) { t.Inputs[1].Path = "/jetrun/in/data.csv/" }, wantField: "inputs[1].path", wantWhy: "already given by inputs[0]"},
		{name: "nested path", mod: func(t *Task) { t.Inputs[1].Path = "/jetrun/in/data.csv/x" }, wantField: "inputs[1].path", wantWhy: "lies inside inputs[0]"},
		{name: "bad kind", mod: func(t *Task) { t.Inputs[1].Kind = "tar" }, wantField: "inputs[1].kind", wantWhy: `"tar"`},
		{name: "bad mode", mod: func(t *Task) { t.Inputs[0].Mode = 0o4755 }, wantField: "inputs[0].mode", wantWhy: "beyond 0777"},
		{name: "bad sha", mod: func(t *Task) { t.Inputs[0].SHA256 = strings.ToUpper(sum) }, wantField: "inputs[0].sha256", wantWhy: "lowercase hex"},
		{name: "too many inputs", mod: func(t *Task) { t.Inputs = make([]Input, MaxInputs+1) }, wantField: "inputs", wantWhy: "more than 256"},
		{name: "too many outputs", mod: func(t *Task) { t.Outputs = make([]string, MaxOutputs+1) }, wantField: "outputs", wantWhy: "more than 256"},
		{name: "relative output", mod: func(t *Task) { t.Outputs[0] = "out" }, wantField: "outputs[0]", wantWhy: "not absolute"},
		{name: "output with ..", mod: func(t *Task) { t.Outputs[0] = "/a/../b" }, wantField: "outputs[0]", wantWhy: `".."`},
		{name: "duplicate output", mod: func(t *Task) { t.Outputs[1] = "/jetrun/out//report.txt" }, wantField: "outputs[1]", wantWhy: "already given by outputs[0]"},
		{name: "output NUL", mod: func(t *Task) { t.Outputs[1] = "/a\x00" }, wantField: "outputs[1]", wantWhy: "NUL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := base()
			tc.mod(task)
			err := task.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tc.wantField || !strings.Contains(ve.Reason, tc.wantWhy) {
				t.Fatalf("Validate = %v; want field %s, reason containing %q", err, tc.wantField, tc.wantWhy)
			}
		})
	}
}

func TestArtifactsRoundTrip(t *testing.T) {
	r := &Result{ID: "t1", Status: ResultSuccess, Finished: tFinish, Artifacts: []Artifact{
		{Path: "/jetrun/out/a", State: ArtifactStored, Kind: KindFile, Size: 3, SHA256: strings.Repeat("0", 64), Object: OutputObject("t1", 0)},
		{Path: "/jetrun/out/b", State: ArtifactMissing},
		{Path: "/jetrun/out/c", State: ArtifactOverCap, Cap: 1 << 30},
	}}
	data, err := Encode(r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeResult(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Artifacts) != 3 || got.Artifacts[0] != r.Artifacts[0] || got.Artifacts[2].Cap != 1<<30 {
		t.Fatalf("artifacts = %+v; want %+v", got.Artifacts, r.Artifacts)
	}
}
