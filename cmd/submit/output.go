package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// outputWriter copies a task's log chunks to stdout and stderr. One
// goroutine calls it.
type outputWriter struct {
	stdout, stderr io.Writer
	st             *statusLine
	attempt        int
}

// write prints one chunk on the stream it came from. A chunk from a later
// delivery attempt means the task started again on a worker, and its
// output starts over: that is said on stderr.
func (o *outputWriter) write(l *messages.Log) error {
	if l.Attempt > o.attempt {
		if o.attempt != 0 {
			o.st.always("task %s: attempt %d started; its output follows from the beginning", l.ID, l.Attempt)
		}
		o.attempt = l.Attempt
	}
	w := o.stdout
	if l.Stream == messages.StreamStderr {
		w = o.stderr
	}
	_, err := w.Write(l.Data)
	return err
}

// statusLine prints status on stderr: progress only when on (stderr is a
// terminal, or --verbose), failures always.
type statusLine struct {
	w  io.Writer
	on bool
}

// printf prints a progress line when status is on.
func (s *statusLine) printf(format string, a ...any) {
	if s.on {
		s.always(format, a...)
	}
}

// always prints a line.
func (s *statusLine) always(format string, a ...any) {
	fmt.Fprintf(s.w, "submit: "+format+"\n", a...)
}

// status prints a lifecycle event.
func (s *statusLine) status(st *messages.Status) {
	switch st.State {
	case messages.StatePreparing:
		if st.Detail != "" {
			s.printf("preparing on worker %s%s: %s", st.Worker, attemptNote(st.Attempt), st.Detail)
		} else {
			s.printf("preparing on worker %s%s", st.Worker, attemptNote(st.Attempt))
		}
	case messages.StatePulling:
		if st.Detail != "" {
			s.printf("%s", st.Detail)
		} else {
			s.printf("pulling the image on worker %s", st.Worker)
		}
	case messages.StateRunning:
		s.printf("running on worker %s%s", st.Worker, attemptNote(st.Attempt))
	default:
		s.printf("%s %s", st.State, st.Detail)
	}
}

func attemptNote(a int) string {
	if a > 1 {
		return fmt.Sprintf(" (attempt %d)", a)
	}
	return ""
}

// result prints how the task ended: failures always, success when on.
func (s *statusLine) result(r *messages.Result, interrupted bool) {
	if r.LogDropped > 0 {
		s.always("task %s: %d bytes of output over the worker's log cap were not kept", r.ID, r.LogDropped)
	}
	took := ""
	if !r.Started.IsZero() && !r.Finished.IsZero() {
		took = " after " + r.Finished.Sub(r.Started).Round(time.Millisecond).String()
	}
	reason := ""
	if r.Error != "" {
		reason = ": " + strings.TrimSpace(r.Error)
	}
	switch r.Status {
	case messages.ResultSuccess:
		s.printf("task %s succeeded%s (worker %s)", r.ID, took, r.Worker)
	case messages.ResultTimeout:
		s.always("task %s timed out%s", r.ID, reasonOr(reason, took))
	case messages.ResultCancelled:
		if interrupted {
			s.always("task %s cancelled%s", r.ID, took)
		} else {
			s.always("task %s cancelled%s%s", r.ID, took, reason)
		}
	case messages.ResultKilled:
		if r.OOM {
			s.always("task %s killed%s: out of memory", r.ID, took)
		} else {
			s.always("task %s killed%s%s", r.ID, took, reason)
		}
	default:
		if code := exitCode(r); code != 1 || r.ExitCode == 1 {
			// The exit code says it; the detail is for --verbose, and
			// left out when it only repeats the code.
			if onlyTheCode(r) {
				reason = ""
			}
			s.printf("task %s exited with code %d%s%s", r.ID, r.ExitCode, took, reason)
		} else {
			s.always("task %s failed%s", r.ID, reasonOr(reason, ": "+r.Status))
		}
	}
}

func reasonOr(reason, alt string) string {
	if reason != "" {
		return reason
	}
	return alt
}

// onlyTheCode reports whether r's error only repeats its exit code.
func onlyTheCode(r *messages.Result) bool {
	e := strings.TrimSpace(r.Error)
	return e == fmt.Sprintf("exit code %d", r.ExitCode) || e == fmt.Sprintf("exit status %d", r.ExitCode)
}
