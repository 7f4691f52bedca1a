package messages

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// The fuzz targets feed arbitrary bytes to every decoder of untrusted input.
// Each checks that decoding never panics (not even one recovered inside
// decode), that failures are typed, and that whatever decodes re-encodes to
// bytes that decode to the same message. `make fuzz` runs each for
// FUZZTIME; the seed corpora live in testdata/fuzz/<target>/.

func FuzzDecodeTask(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		task, err := DecodeTask(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		verr := task.Validate()
		if verr != nil {
			var ve *ValidationError
			if !errors.As(verr, &ve) || !errors.Is(verr, ErrInvalid) || errors.Is(verr, ErrUndecodable) || ve.Field == "" || ve.Reason == "" {
				t.Fatalf("Validate returned %v (%T), want a *ValidationError with field and reason", verr, verr)
			}
		}
		again := checkStable(t, task, func(b []byte) (any, error) { return DecodeTask(b) }).(*Task)
		if (again.Validate() == nil) != (verr == nil) {
			t.Fatalf("validity changed across a round trip: %v then %v", verr, again.Validate())
		}
		if verr == nil {
			_ = NewSubjects("").ValidateTask(task)
		}
	})
}

func FuzzDecodeCancel(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCancel(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		if err := c.Validate(); err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("Validate returned %v, want ErrInvalid", err)
		}
		checkStable(t, c, func(b []byte) (any, error) { return DecodeCancel(b) })
	})
}

func FuzzDecodeRun(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeRun(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkStable(t, r, func(b []byte) (any, error) { return DecodeRun(b) })
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStatus(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkStable(t, s, func(b []byte) (any, error) { return DecodeStatus(b) })
	})
}

func FuzzDecodeLog(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeLog(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkStable(t, l, func(b []byte) (any, error) { return DecodeLog(b) })
	})
}

func FuzzDecodeStat(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeStat(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkStable(t, s, func(b []byte) (any, error) { return DecodeStat(b) })
	})
}

func FuzzDecodeResult(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := DecodeResult(data)
		if err != nil {
			checkDecodeError(t, err)
			return
		}
		checkStable(t, r, func(b []byte) (any, error) { return DecodeResult(b) })
	})
}

// checkDecodeError fails unless err is a *DecodeError wrapping
// ErrUndecodable, and not a panic recovered from the library.
func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) || !errors.Is(err, ErrUndecodable) || errors.Is(err, ErrInvalid) {
		t.Fatalf("decode error %v (%T) is not a *DecodeError", err, err)
	}
	if errors.Is(err, errDecoderPanic) {
		t.Fatalf("the MessagePack library panicked: %v", err)
	}
}

// checkStable encodes v, decodes the bytes and encodes again: both
// encodings must be equal, so what a worker decodes it can publish back
// unchanged. It returns the decoded copy.
func checkStable(t *testing.T, v any, decode func([]byte) (any, error)) any {
	t.Helper()
	b1, err := Encode(v)
	if err != nil {
		t.Fatalf("a decoded %T does not encode: %v", v, err)
	}
	again, err := decode(b1)
	if err != nil {
		t.Fatalf("re-encoded %T does not decode: %v\n% x", v, err, b1)
	}
	b2, err := Encode(again)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b1, b2) {
		t.Fatalf("%T is not stable across a round trip:\n% x\n% x", v, b1, b2)
	}
	return again
}

// TestWriteFuzzCorpus rewrites the seed corpora under testdata/fuzz with
// -update: the golden messages plus hand-made edge cases.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	encode := func(v any) []byte {
		b, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	common := map[string][]byte{
		"empty":          {},
		"empty-map":      {0x80},
		"nil":            {0xc0},
		"huge-array":     {0x81, 0xa1, 'x', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"nested-unknown": deep(MaxDepth),
		"nil-times":      {0x83, 0xa4, 't', 'i', 'm', 'e', 0xc0, 0xa7, 's', 't', 'a', 'r', 't', 'e', 'd', 0xc0, 0xa5, 's', 't', 'a', 't', 's', 0x91, 0xc0},
	}
	corpora := map[string]map[string][]byte{
		"FuzzDecodeTask":   {"full": encode(fullTask()), "minimal": encode(&Task{ID: "t1", Image: "busybox"}), "invalid": encode(&Task{ID: "a.b", Image: "Bad", Volumes: [][]string{{"x"}}})},
		"FuzzDecodeCancel": {"full": encode(fullCancel())},
		"FuzzDecodeStatus": {"full": encode(fullStatus())},
		"FuzzDecodeRun":    {"full": encode(&Run{ID: "t1", Run: 2, Worker: "w1"})},
		"FuzzDecodeLog":    {"full": encode(fullLog())},
		"FuzzDecodeStat":   {"full": encode(fullStat())},
		"FuzzDecodeResult": {"full": encode(fullResult()), "never-started": encode(&Result{ID: "t1", Status: ResultError, ExitCode: -1, Finished: tFinish})},
	}
	for target, seeds := range corpora {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range common {
			seeds[name] = data
		}
		for name, data := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
