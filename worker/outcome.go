package worker

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// Kind says why a delivery was terminated or handed back. It is the
// "reason" label of jetrun_tasks_terminated_total and
// jetrun_tasks_requeued_total, so it comes from this fixed set, never from
// text.
type Kind string

// Kinds of a terminated delivery (it never runs again).
const (
	KindUndecodable  Kind = "undecodable"   // not a task message
	KindInvalid      Kind = "invalid"       // breaks a protocol rule
	KindPolicy       Kind = "policy"        // refused by this worker's policy
	KindPanic        Kind = "panic"         // the worker panicked handling it
	KindPrepare      Kind = "prepare"       // Prepare failed: permanently (terminated) or transiently (handed back)
	KindLastDelivery Kind = "last_delivery" // failed or interrupted on the last allowed run
	KindGaveUp       Kind = "gave_up"       // the last allowed run was lost with its worker
)

// Kinds of a delivery handed back (Nak) to run later or elsewhere.
const (
	KindShutdown  Kind = "shutdown"  // the worker is stopping
	KindRun       Kind = "run"       // the driver failed (not the task)
	KindResult    Kind = "result"    // its result was still not stored when the worker stopped
	KindLookup    Kind = "lookup"    // the connection closed before JetStream could be asked about it
	KindDuplicate Kind = "duplicate" // this worker already holds that id
)

// terminateKinds and requeueKinds are every Kind of each metric.
var (
	terminateKinds = []Kind{KindUndecodable, KindInvalid, KindPolicy, KindPanic, KindPrepare, KindLastDelivery, KindGaveUp}
	requeueKinds   = []Kind{KindShutdown, KindPrepare, KindRun, KindResult, KindLookup, KindDuplicate}
)

// settlement is what happens to the task message once the outcome's result
// is stored.
type settlement int

const (
	settleAck  settlement = iota // done: the task is removed from the queue
	settleTerm                   // done and never to be delivered again
	settleNak                    // handed back, delivered again after delay
)

// outcome is what handling one delivery decided. One function, settle,
// carries it out: it stores the result, then acks, terminates or naks.
type outcome struct {
	result *messages.Result // stored first; nil for none
	settle settlement
	kind   Kind          // for settleTerm and settleNak
	delay  time.Duration // for settleNak
	reason string        // for the log, and the Term reason
}

func ack(r *messages.Result) outcome { return outcome{result: r, settle: settleAck} }

func terminate(r *messages.Result, kind Kind, reason string) outcome {
	return outcome{result: r, settle: settleTerm, kind: kind, reason: reason}
}

func requeue(kind Kind, delay time.Duration, why error) outcome {
	return outcome{settle: settleNak, kind: kind, delay: delay, reason: why.Error()}
}

func (o outcome) String() string {
	s := [...]string{"ack", "term", "nak"}[o.settle]
	if o.kind != "" {
		s += "(" + string(o.kind) + ")"
	}
	if o.result != nil {
		s = fmt.Sprintf("result %s, %s", o.result.Status, s)
	}
	return s
}

// resultStatus maps the driver's final status to the result's. A status
// that is not final (a driver bug) becomes an error result saying so.
func resultStatus(s driver.Status) (status string, ok bool) {
	switch s {
	case driver.StatusSuccess:
		return messages.ResultSuccess, true
	case driver.StatusError:
		return messages.ResultError, true
	case driver.StatusTimeout:
		return messages.ResultTimeout, true
	case driver.StatusKilled:
		return messages.ResultKilled, true
	case driver.StatusCancelled:
		return messages.ResultCancelled, true
	}
	return messages.ResultError, false
}
