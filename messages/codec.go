package messages

import (
	"errors"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// ErrUndecodable is wrapped by every DecodeError.
var ErrUndecodable = errors.New("undecodable message")

// DecodeError means a payload is not a MessagePack map of the expected
// shape. It is distinct from a ValidationError, which means it decoded but
// is not acceptable.
type DecodeError struct {
	// What names the message type, e.g. "task".
	What string
	Err  error
}

func (e *DecodeError) Error() string { return fmt.Sprintf("decode %s: %v", e.What, e.Err) }

// Unwrap returns the cause and ErrUndecodable.
func (e *DecodeError) Unwrap() []error { return []error{e.Err, ErrUndecodable} }

// Encode marshals v (one of this package's types) as MessagePack.
func Encode(v any) ([]byte, error) {
	return msgpack.Marshal(v)
}

func decode(what string, data []byte, v any) error {
	if err := msgpack.Unmarshal(data, v); err != nil {
		return &DecodeError{What: what, Err: err}
	}
	return nil
}

// DecodeTask decodes a Task; it does not validate it.
func DecodeTask(data []byte) (*Task, error) {
	var t Task
	if err := decode("task", data, &t); err != nil {
		return nil, err
	}
	return &t, nil
}

// DecodeCancel decodes a Cancel.
func DecodeCancel(data []byte) (*Cancel, error) {
	var c Cancel
	if err := decode("cancel", data, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// DecodeStatus decodes a Status.
func DecodeStatus(data []byte) (*Status, error) {
	var s Status
	if err := decode("status", data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeLog decodes a Log.
func DecodeLog(data []byte) (*Log, error) {
	var l Log
	if err := decode("log", data, &l); err != nil {
		return nil, err
	}
	return &l, nil
}

// DecodeStat decodes a Stat.
func DecodeStat(data []byte) (*Stat, error) {
	var s Stat
	if err := decode("stat", data, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodeResult decodes a Result.
func DecodeResult(data []byte) (*Result, error) {
	var r Result
	if err := decode("result", data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
