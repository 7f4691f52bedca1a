package worker

import (
	"testing"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

func TestResultStatus(t *testing.T) {
	for _, tc := range []struct {
		in   driver.Status
		want string
		ok   bool
	}{
		{driver.StatusSuccess, messages.ResultSuccess, true},
		{driver.StatusError, messages.ResultError, true},
		{driver.StatusTimeout, messages.ResultTimeout, true},
		{driver.StatusKilled, messages.ResultKilled, true},
		{driver.StatusCancelled, messages.ResultCancelled, true},
		// Not final: a driver bug, reported as an error result.
		{driver.StatusRunning, messages.ResultError, false},
		{"", messages.ResultError, false},
		{"exploded", messages.ResultError, false},
	} {
		got, ok := resultStatus(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("resultStatus(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok != tc.in.Final() {
			t.Errorf("resultStatus(%q) ok = %v but Final() = %v", tc.in, ok, tc.in.Final())
		}
	}
}

// The kinds of each metric are distinct, and every outcome constructor
// keeps the kind it is given.
func TestKinds(t *testing.T) {
	for name, kinds := range map[string][]Kind{"terminate": terminateKinds, "requeue": requeueKinds} {
		seen := map[Kind]bool{}
		for _, k := range kinds {
			if seen[k] || k == "" {
				t.Errorf("%s kinds: %q empty or repeated", name, k)
			}
			seen[k] = true
		}
	}
	for _, tc := range []struct {
		o      outcome
		settle settlement
		kind   Kind
	}{
		{ack(&messages.Result{}), settleAck, ""},
		{terminate(nil, KindPolicy, "no"), settleTerm, KindPolicy},
		{requeue(KindLookup, 0, errTest), settleNak, KindLookup},
	} {
		if tc.o.settle != tc.settle || tc.o.kind != tc.kind {
			t.Errorf("%v: settle %v kind %q, want %v %q", tc.o, tc.o.settle, tc.o.kind, tc.settle, tc.kind)
		}
	}
}

type testError struct{}

func (testError) Error() string { return "test" }

var errTest = testError{}
