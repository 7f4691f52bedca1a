package messages

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// MaxDepth is how deeply maps and arrays may nest in a payload. jetrun's
// own messages nest at most four levels (a Result's stats' metrics); the
// rest is room for unknown keys from newer peers.
const MaxDepth = 32

// Encode marshals v (one of this package's types) as MessagePack: a map with
// the spec's string keys, map keys sorted and integers in their smallest
// form, so the same message always gives the same bytes.
func Encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetSortMapKeys(true)
	enc.UseCompactInts(true)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	return buf.Bytes(), nil
}

// decode checks that data is exactly one well-formed MessagePack map, then
// decodes it into v. The check comes first because the decoder trusts
// declared lengths: a five-byte array header claiming four billion elements
// must not become a four-billion-element allocation. A panic inside the
// MessagePack library becomes a DecodeError wrapping errDecoderPanic: bad
// bytes must never crash a worker.
//
// A value of the wrong type, or an integer beyond what its key's type holds
// (such as 2^64-1 for an int64), is reported with the key it came with.
func decode(what string, data []byte, v any) (err error) {
	big, err := checkMap(data)
	if err != nil {
		return &DecodeError{What: what, Err: err}
	}
	defer func() {
		if p := recover(); p != nil {
			err = &DecodeError{What: what, Err: fmt.Errorf("%w: %v", errDecoderPanic, p)}
		}
	}()
	if err := msgpack.Unmarshal(data, v); err != nil {
		if key, why := badKey(data, v); key != "" {
			return &DecodeError{What: what, Key: key, Err: why}
		}
		return &DecodeError{What: what, Err: err}
	}
	if big {
		if key, why := outOfRange(data, v); key != "" {
			return &DecodeError{What: what, Key: key, Err: why}
		}
	}
	return nil
}

// DecodeTask decodes a Task. It does not validate it: call Validate.
func DecodeTask(data []byte) (*Task, error) {
	var t Task
	if err := decode("task", data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// PeekTask reads only the id and reply prefix of a task message that
// DecodeTask refused, with the same bounds on untrusted bytes (depth,
// declared lengths), so that a refusal can be addressed. It returns "" for
// what it cannot read; the values are not validated.
func PeekTask(data []byte) (id, reply string) {
	var env struct {
		ID    any `msgpack:"id"`
		Reply any `msgpack:"reply"`
	}
	if decode("task", data, &env) != nil {
		return "", ""
	}
	id, _ = env.ID.(string)
	reply, _ = env.Reply.(string)
	return id, reply
}

// DecodeCancel decodes a Cancel. It does not validate it: call Validate.
func DecodeCancel(data []byte) (*Cancel, error) {
	var c Cancel
	if err := decode("cancel", data, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DecodeRun decodes a Run.
func DecodeRun(data []byte) (*Run, error) {
	var r Run
	if err := decode("run", data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeStatus decodes a Status; its time is in UTC.
func DecodeStatus(data []byte) (*Status, error) {
	var w statusWire
	if err := decode("status", data, &w); err != nil {
		return nil, err
	}
	return &Status{ID: w.ID, State: w.State, Detail: w.Detail, Worker: w.Worker, Attempt: w.Attempt, Time: utc(w.Time)}, nil
}

// DecodeLog decodes a Log.
func DecodeLog(data []byte) (*Log, error) {
	var l Log
	if err := decode("log", data, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// DecodeStat decodes a Stat; its time is in UTC.
func DecodeStat(data []byte) (*Stat, error) {
	var w statWire
	if err := decode("stat", data, &w); err != nil {
		return nil, err
	}
	s := w.stat()
	return &s, nil
}

// DecodeResult decodes a Result; its times are in UTC.
func DecodeResult(data []byte) (*Result, error) {
	var w resultWire
	if err := decode("result", data, &w); err != nil {
		return nil, err
	}
	r := &Result{
		ID: w.ID, Status: w.Status, ExitCode: w.ExitCode, Error: w.Error, OOM: w.OOM, Worker: w.Worker,
		Attempt: w.Attempt, Started: utc(w.Started), Finished: utc(w.Finished),
		LogBytes: w.LogBytes, LogDropped: w.LogDropped, Artifacts: w.Artifacts,
	}
	if w.Stats != nil {
		r.Stats = make([]Stat, len(w.Stats))
		for i := range w.Stats {
			r.Stats[i] = w.Stats[i].stat()
		}
	}
	return r, nil
}

// The *Wire types are the messages with times as pointers, used to decode:
// the MessagePack library panics decoding nil into a time.Time, and a nil
// time must mean the same as an absent one. Their keys must stay those of
// the types they mirror (TestWireTypesMirror checks).
type (
	statusWire struct {
		ID      string     `msgpack:"id"`
		State   string     `msgpack:"state"`
		Detail  string     `msgpack:"detail,omitempty"`
		Worker  string     `msgpack:"worker,omitempty"`
		Attempt int        `msgpack:"attempt,omitempty"`
		Time    *time.Time `msgpack:"time"`
	}
	statWire struct {
		ID      string            `msgpack:"id,omitempty"`
		Time    *time.Time        `msgpack:"time"`
		Metrics map[string]uint64 `msgpack:"metrics"`
	}
	resultWire struct {
		ID         string     `msgpack:"id"`
		Status     string     `msgpack:"status"`
		ExitCode   int        `msgpack:"exit_code"`
		Error      string     `msgpack:"error,omitempty"`
		OOM        bool       `msgpack:"oom,omitempty"`
		Worker     string     `msgpack:"worker,omitempty"`
		Attempt    int        `msgpack:"attempt,omitempty"`
		Started    *time.Time `msgpack:"started,omitempty"`
		Finished   *time.Time `msgpack:"finished"`
		Stats      []statWire `msgpack:"stats,omitempty"`
		LogBytes   int64      `msgpack:"log_bytes"`
		LogDropped int64      `msgpack:"log_dropped"`
		Artifacts  []Artifact `msgpack:"artifacts,omitempty"`
	}
)

func (w statWire) stat() Stat { return Stat{ID: w.ID, Time: utc(w.Time), Metrics: w.Metrics} }

// utc returns *t in UTC; nil and the zero time give the zero time.
func utc(t *time.Time) time.Time {
	if t == nil || t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// checkMap reports why data is not exactly one well-formed MessagePack map:
// truncated, followed by trailing bytes, nested deeper than MaxDepth, using
// the reserved code 0xc1, or declaring more elements than bytes remain. big
// reports an unsigned integer above 2^63-1 somewhere in it.
func checkMap(data []byte) (big bool, err error) {
	if len(data) == 0 {
		return false, fmt.Errorf("empty payload")
	}
	if c := data[0]; !(c >= 0x80 && c <= 0x8f || c == 0xde || c == 0xdf) {
		return false, fmt.Errorf("payload is not a map (first byte 0x%02x)", c)
	}
	s := scanner{data: data}
	// pending[i] is how many values the container at depth i still holds.
	pending := []uint64{1}
	for len(pending) > 0 {
		top := len(pending) - 1
		if pending[top] == 0 {
			pending = pending[:top]
			continue
		}
		pending[top]--
		n, err := s.value()
		if err != nil {
			return false, err
		}
		if n > 0 {
			if len(pending) > MaxDepth {
				return false, fmt.Errorf("nested deeper than %d at offset %d", MaxDepth, s.off)
			}
			pending = append(pending, n)
		}
	}
	if s.off != len(data) {
		return false, fmt.Errorf("%d trailing bytes after the map", len(data)-s.off)
	}
	return s.big, nil
}

// scanner walks MessagePack values without decoding them.
type scanner struct {
	data []byte
	off  int
	big  bool // a uint 64 above 2^63-1 was seen
}

func (s *scanner) remaining() uint64 { return uint64(len(s.data) - s.off) }

// skip moves past n bytes of payload.
func (s *scanner) skip(n uint64) error {
	if n > s.remaining() {
		return fmt.Errorf("truncated at offset %d: want %d more bytes, have %d", s.off, n, s.remaining())
	}
	s.off += int(n)
	return nil
}

// uint reads a big-endian length of size bytes.
func (s *scanner) uint(size int) (uint64, error) {
	start := s.off
	if err := s.skip(uint64(size)); err != nil {
		return 0, err
	}
	b := s.data[start:s.off]
	switch size {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	default:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
}

// value moves past one value's header and any payload that is not itself
// made of values, and returns how many nested values follow (array
// elements, or map keys and values).
func (s *scanner) value() (nested uint64, err error) {
	if s.remaining() == 0 {
		return 0, fmt.Errorf("truncated at offset %d: want a value", s.off)
	}
	c := s.data[s.off]
	s.off++
	var n uint64
	switch {
	case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixint, nil, bool
		return 0, nil
	case c <= 0x8f: // fixmap
		return s.elems(uint64(c&0x0f), 2)
	case c <= 0x9f: // fixarray
		return s.elems(uint64(c&0x0f), 1)
	case c <= 0xbf: // fixstr
		return 0, s.skip(uint64(c & 0x1f))
	case c == 0xc1:
		return 0, fmt.Errorf("reserved code 0xc1 at offset %d", s.off-1)
	case c >= 0xc4 && c <= 0xc6: // bin 8/16/32
		if n, err = s.uint(1 << (c - 0xc4)); err != nil {
			return 0, err
		}
		return 0, s.skip(n)
	case c >= 0xc7 && c <= 0xc9: // ext 8/16/32: length, type, data
		if n, err = s.uint(1 << (c - 0xc7)); err != nil {
			return 0, err
		}
		return 0, s.skip(n + 1)
	case c == 0xca, c == 0xcb: // float 32/64
		return 0, s.skip(4 << (c - 0xca))
	case c >= 0xcc && c <= 0xcf: // uint 8..64
		if c == 0xcf && s.remaining() >= 8 && s.data[s.off]&0x80 != 0 {
			s.big = true
		}
		return 0, s.skip(1 << (c - 0xcc))
	case c >= 0xd0 && c <= 0xd3: // int 8..64
		return 0, s.skip(1 << (c - 0xd0))
	case c >= 0xd4 && c <= 0xd8: // fixext 1..16: type, data
		return 0, s.skip(1 + 1<<(c-0xd4))
	case c >= 0xd9 && c <= 0xdb: // str 8/16/32
		if n, err = s.uint(1 << (c - 0xd9)); err != nil {
			return 0, err
		}
		return 0, s.skip(n)
	case c == 0xdc, c == 0xdd: // array 16/32
		if n, err = s.uint(2 << (c - 0xdc)); err != nil {
			return 0, err
		}
		return s.elems(n, 1)
	default: // 0xde, 0xdf: map 16/32
		if n, err = s.uint(2 << (c - 0xde)); err != nil {
			return 0, err
		}
		return s.elems(n, 2)
	}
}

// elems checks that count containers entries of per values each can fit in
// the bytes left (every value takes at least one byte).
func (s *scanner) elems(count, per uint64) (uint64, error) {
	n := count * per
	if n > s.remaining() {
		return 0, fmt.Errorf("truncated at offset %d: %d values declared, %d bytes left", s.off, n, s.remaining())
	}
	return n, nil
}

var _ msgpack.CustomEncoder = Stat{}

// EncodeMsgpack writes s as the map the struct tags describe, with its
// metrics' keys sorted: msgpack's own map encoder sorts only maps of
// strings, booleans and interfaces, and Encode promises the same bytes for
// the same message. Decoding uses the struct tags.
func (s Stat) EncodeMsgpack(enc *msgpack.Encoder) error {
	n := 2
	if s.ID != "" {
		n++
	}
	if err := enc.EncodeMapLen(n); err != nil {
		return err
	}
	if s.ID != "" {
		if err := enc.EncodeString("id"); err != nil {
			return err
		}
		if err := enc.EncodeString(s.ID); err != nil {
			return err
		}
	}
	if err := enc.EncodeString("time"); err != nil {
		return err
	}
	if err := enc.EncodeTime(s.Time); err != nil {
		return err
	}
	if err := enc.EncodeString("metrics"); err != nil {
		return err
	}
	if s.Metrics == nil {
		return enc.EncodeNil()
	}
	if err := enc.EncodeMapLen(len(s.Metrics)); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(s.Metrics)) {
		if err := enc.EncodeString(k); err != nil {
			return err
		}
		if err := enc.EncodeUint(s.Metrics[k]); err != nil {
			return err
		}
	}
	return nil
}
