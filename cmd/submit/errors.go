package main

import (
	"errors"
	"fmt"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// Exit codes of submit itself; run otherwise exits with the task's.
const (
	exitOK = 0
	// exitError: a command other than run failed, or run could not read
	// the task's result.
	exitError = 1
	// exitUsage: bad flags or arguments.
	exitUsage = 2
	// exitNotRun: run could not submit the task (no server, no task
	// stream, an invalid spec), as docker run's 125.
	exitNotRun = 125
	// exitInterrupted: Ctrl-C, or a cancelled task.
	exitInterrupted = 130
)

// codeError ends submit with code. err, when set, is printed; when nil,
// what there was to say has been said.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *codeError) Unwrap() error { return e.err }

// errInterrupted ends a command interrupted by Ctrl-C.
var errInterrupted = &codeError{code: exitInterrupted}

// notRun marks err as keeping run from submitting the task.
func notRun(err error) error { return &codeError{code: exitNotRun, err: err} }

// taskExitError carries the exit code of a task that did not succeed;
// how it ended has been printed.
type taskExitError struct {
	id   string
	code int
}

func (e *taskExitError) Error() string { return fmt.Sprintf("task %s: exit code %d", e.id, e.code) }

// cmdError names the command err came from: "submit run: ...".
type cmdError struct {
	cmd string
	err error
}

func (e *cmdError) Error() string {
	if e.cmd == "" {
		return "submit: " + e.err.Error()
	}
	return "submit " + e.cmd + ": " + e.err.Error()
}

func (e *cmdError) Unwrap() error { return e.err }

// explain replaces the errors a user can act on with what to do; the
// original stays in the chain for errors.Is.
func explain(err error, prefix string) error {
	switch {
	case errors.Is(err, client.ErrNoTaskStream):
		return &hintError{fmt.Sprintf("no task stream %s for prefix %q: is a worker running? (the streams are created by worker --provision, or by a worker with its embedded server; check --prefix and --nats)",
			messages.TasksStream, prefix), err}
	case errors.Is(err, client.ErrNoEventStream):
		return &hintError{fmt.Sprintf("no event stream %s for prefix %q: is a worker running? (the streams are created by worker --provision, or by a worker with its embedded server; check --prefix and --nats)",
			messages.EventsStream, prefix), err}
	}
	return err
}

// lookupError explains a failed lookup by id.
func lookupError(err error, id, prefix string) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("nothing stored for task %s: not picked up by a worker yet, unknown, expired, or submitted with --reply (check --prefix %q)", id, prefix)
	}
	return explain(err, prefix)
}

// hintError shows msg in place of err, which it wraps.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }
