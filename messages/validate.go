package messages

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every ValidationError.
var ErrInvalid = errors.New("invalid task")

// Limits of a task's fields, enforced by Validate.
const (
	MaxIDLen = 128
)

// ValidationError says which field of a message is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid task: %s: %s", e.Field, e.Reason)
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Validate reports the first problem with t, as a *ValidationError.
// TODO(issue 2): full validation.
func (t *Task) Validate() error {
	if t.ID == "" {
		return &ValidationError{Field: "id", Reason: "required"}
	}
	if t.Image == "" {
		return &ValidationError{Field: "image", Reason: "required"}
	}
	return nil
}
