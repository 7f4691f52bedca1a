package messages

import (
	"errors"
	"fmt"
)

var (
	// ErrUndecodable is wrapped by every DecodeError: the payload is not a
	// MessagePack map of the expected shape.
	ErrUndecodable = errors.New("undecodable message")
	// ErrInvalid is wrapped by every ValidationError: the payload decoded
	// but is not acceptable.
	ErrInvalid = errors.New("invalid message")

	// errDecoderPanic marks a panic recovered from the MessagePack library
	// inside a DecodeError; the fuzz targets treat it as a bug to fix here.
	errDecoderPanic = errors.New("decoder panic")
)

// DecodeError means a payload is not a MessagePack map of the expected
// shape. It is distinct from a ValidationError, which means it decoded but
// is not acceptable. errors.Is(err, ErrUndecodable) is true for it.
type DecodeError struct {
	// What names the message type, e.g. "task".
	What string
	// Key is the wire key whose value could not be decoded, when known.
	Key string
	// Err is the cause.
	Err error
}

// Error says which message could not be decoded and why, naming the key
// when it is known.
func (e *DecodeError) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("decode %s: key %q: %v", e.What, e.Key, e.Err)
	}
	return fmt.Sprintf("decode %s: %v", e.What, e.Err)
}

// Unwrap returns the cause and ErrUndecodable.
func (e *DecodeError) Unwrap() []error { return []error{e.Err, ErrUndecodable} }

// ValidationError says which field of a message is wrong and why.
// errors.Is(err, ErrInvalid) is true for it.
type ValidationError struct {
	// Field is the wire key, with an index or map key where it helps:
	// "volumes[1][0]", "env[PATH]".
	Field string
	// Reason says what is wrong, for a person.
	Reason string
	// Message names the message type; "" means "task".
	Message string
}

// Error reads "invalid task: field: reason".
func (e *ValidationError) Error() string {
	what := e.Message
	if what == "" {
		what = "task"
	}
	return fmt.Sprintf("invalid %s: %s: %s", what, e.Field, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }
