package driver

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestErrorClasses(t *testing.T) {
	base := fs.ErrNotExist
	tr := Transient(fmt.Errorf("pull busybox: %w", base))
	pe := Permanent(fmt.Errorf("pull busybox: %w", base))

	for _, tc := range []struct {
		name                         string
		err                          error
		transient, permanent, origin bool
	}{
		{"transient", tr, true, false, true},
		{"permanent", pe, false, true, true},
		{"transient wrapped again", fmt.Errorf("prepare: %w", tr), true, false, true},
		{"plain", base, false, false, true},
		{"nil", nil, false, false, false},
	} {
		if got := IsTransient(tc.err); got != tc.transient {
			t.Errorf("%s: IsTransient = %v", tc.name, got)
		}
		if got := errors.Is(tc.err, ErrTransient); got != tc.transient {
			t.Errorf("%s: errors.Is(ErrTransient) = %v", tc.name, got)
		}
		if got := IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("%s: IsPermanent = %v", tc.name, got)
		}
		if got := errors.Is(tc.err, base); got != tc.origin {
			t.Errorf("%s: original error reachable = %v", tc.name, got)
		}
	}
	if tr.Error() != "pull busybox: file does not exist" {
		t.Errorf("marking changed the message: %q", tr.Error())
	}
	if Transient(nil) != nil || Permanent(nil) != nil {
		t.Error("marking nil gave a non-nil error")
	}
}

func TestUserVisible(t *testing.T) {
	if !errors.Is(ErrOutOfMemory, ErrOutOfMemory) || !IsUserVisible(ErrOutOfMemory) {
		t.Fatal("ErrOutOfMemory is not user visible")
	}
	wrapped := fmt.Errorf("task t1: %w", ErrOutOfMemory)
	if !errors.Is(wrapped, ErrOutOfMemory) || !IsUserVisible(wrapped) {
		t.Error("wrapping hides ErrOutOfMemory or its user visibility")
	}
	var res RunResult = &Result{State: StatusKilled, Code: -1, Err: ErrOutOfMemory}
	if !errors.Is(res, ErrOutOfMemory) {
		t.Error("errors.Is(result, ErrOutOfMemory) is false for an OOM result")
	}
	if IsUserVisible(errors.New("docker daemon said no")) || IsUserVisible(nil) {
		t.Error("a plain error is user visible")
	}
	inner := errors.New("image has no command")
	ue := UserError(inner)
	if !IsUserVisible(ue) || !errors.Is(ue, inner) || ue.Error() != inner.Error() {
		t.Error("UserError does not keep the error and mark it visible")
	}
	if errors.Is(ue, ErrOutOfMemory) {
		t.Error("every user error matches ErrOutOfMemory")
	}
}

func TestResult(t *testing.T) {
	ok := &Result{State: StatusSuccess, Code: 0}
	if ok.Error() != "" || ok.Unwrap() != nil || ok.Status() != StatusSuccess || ok.ExitCode() != 0 {
		t.Errorf("success result: %q %v %q %d", ok.Error(), ok.Unwrap(), ok.Status(), ok.ExitCode())
	}
	if _, isStarter := RunResult(ok).(Starter); !isStarter {
		t.Error("Result does not report StartedAt")
	}
	fail := &Result{State: StatusError, Code: 2, Err: errors.New("exit status 2")}
	if fail.Error() != "exit status 2" || fail.ExitCode() != 2 {
		t.Errorf("failed result: %q %d", fail.Error(), fail.ExitCode())
	}
}

func TestStatusFinal(t *testing.T) {
	want := map[Status]string{
		StatusRunning: "running", StatusSuccess: "success", StatusError: "error",
		StatusTimeout: "timeout", StatusKilled: "killed", StatusCancelled: "cancelled",
	}
	for s, str := range want {
		if string(s) != str {
			t.Errorf("status %q, want the seed's %q", s, str)
		}
		if s.Final() != (s != StatusRunning) {
			t.Errorf("%q.Final() = %v", s, s.Final())
		}
	}
	if Status("bogus").Final() {
		t.Error("an unknown status is final")
	}
}
