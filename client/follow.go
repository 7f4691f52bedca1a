package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// DefaultOutputGrace is how long Follow waits by default, once the result
// is known, for replayed output still in flight.
const DefaultOutputGrace = 5 * time.Second

// FollowOptions says what Handle.Follow delivers. Every callback is
// optional.
type FollowOptions struct {
	// OnStatus is called with each status event, in order.
	OnStatus func(*messages.Status)
	// OnStat is called with each resource sample, in order.
	OnStat func(*messages.Stat)
	// OnLog is called with each output chunk, in the order the worker
	// published them. When it returns an error no further chunk is
	// delivered; Follow still waits for the result and reports the error
	// in Followed.OutputErr. When output is replayed, OnLog runs on a
	// goroutine of its own, concurrently with OnStatus and OnStat.
	OnLog func(*messages.Log) error
	// OnNoReplay is called, before any output, when the task's output
	// would be replayed from JETRUN_EVENTS but the stream is missing; err
	// wraps ErrNoEventStream. The output then comes from the live
	// subscription.
	OnNoReplay func(err error)
	// OutputGrace bounds the wait, once the result is known, for replayed
	// output still in flight (default DefaultOutputGrace).
	OutputGrace time.Duration
}

// Followed is how following a task ended.
type Followed struct {
	// Result is the task's final result.
	Result *messages.Result
	// Replayed reports that the output was read from JETRUN_EVENTS, with
	// flow control: complete and in order however slow OnLog is.
	Replayed bool
	// Lost counts, when the output was not replayed, the events the live
	// subscription did not deliver: chunks missing from the Seq order and
	// events dropped by a full buffer (Handle.Dropped).
	Lost uint64
	// OutputErr, when set, says why OnLog did not see all of the output:
	// OnLog's own error, the replay's, or ErrOutputIncomplete.
	OutputErr error
}

// Follow follows the task to its end and returns its result: it delivers
// the task's status events, samples and output to opts' callbacks, waits
// for the result, then for the output still in flight. It is the loop
// behind submit run; call it once per handle, instead of reading Events.
//
// The output is replayed from JETRUN_EVENTS when the task's reply prefix
// lies under P.events, so none of it is lost to a slow OnLog; otherwise
// (a custom reply prefix, or no stream: see OnNoReplay) it comes from the
// live subscription and Followed.Lost counts what was missed.
//
// An error means the result could not be obtained (as Handle.Result): ctx
// ended (the error wraps its cause), the handle was closed, or the
// connection closed. Follow does not cancel the task when ctx ends, nor
// close the handle.
func (h *Handle) Follow(ctx context.Context, opts FollowOptions) (Followed, error) {
	grace := opts.OutputGrace
	if grace <= 0 {
		grace = DefaultOutputGrace
	}
	f := Followed{Replayed: h.stored && opts.OnLog != nil}
	if f.Replayed {
		// Replaying needs JETRUN_EVENTS; without it (a worker still
		// starting, a stream deleted) the live events are all there is.
		sctx, cancel := context.WithTimeout(ctx, h.c.opts.publishTimeout)
		_, err := h.c.eventStream(sctx)
		cancel()
		if errors.Is(err, ErrNoEventStream) {
			f.Replayed = false
			if opts.OnNoReplay != nil {
				opts.OnNoReplay(fmt.Errorf("output of task %s: %w", h.id, err))
			}
		}
	}

	outCtx, stopOutput := context.WithCancel(ctx)
	defer stopOutput()
	outDone := make(chan error, 1)
	if f.Replayed {
		go func() {
			skipped, err := h.c.replay(outCtx, h.id, true, opts.OnLog)
			h.mismatched.Add(skipped)
			outDone <- err
		}()
	}
	live := &liveEvents{opts: opts, logs: !f.Replayed && opts.OnLog != nil}
	stopEvents := make(chan struct{})
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		live.run(h.Events(), stopEvents)
	}()

	res, err := h.Result(ctx)
	if err != nil {
		close(stopEvents)
		stopOutput()
		<-evDone
		if f.Replayed {
			<-outDone
		}
		return f, err
	}
	f.Result = res
	if f.Replayed {
		timer := time.NewTimer(grace)
		select {
		case err := <-outDone:
			f.OutputErr = err
		case <-timer.C:
			stopOutput()
			<-outDone
			f.OutputErr = fmt.Errorf("output of task %s: %w", h.id, ErrOutputIncomplete)
		}
		timer.Stop()
	}
	// Events ends after the events before the result.
	<-evDone
	if !f.Replayed {
		f.Lost = live.gaps.lost + h.Dropped()
		f.OutputErr = live.err
	}
	return f, nil
}

// liveEvents hands the live subscription's events to the callbacks.
type liveEvents struct {
	opts FollowOptions
	// logs: output comes from here, not from a replay.
	logs bool
	gaps gaps
	err  error // OnLog's
}

// run delivers events until the channel closes or stop is closed.
func (l *liveEvents) run(events <-chan Event, stop <-chan struct{}) {
	for {
		var ev Event
		var ok bool
		select {
		case ev, ok = <-events:
			if !ok {
				return
			}
		case <-stop:
			return
		}
		switch {
		case ev.Status != nil && l.opts.OnStatus != nil:
			l.opts.OnStatus(ev.Status)
		case ev.Stat != nil && l.opts.OnStat != nil:
			l.opts.OnStat(ev.Stat)
		case ev.Log != nil && l.logs:
			l.gaps.see(ev.Log)
			if l.err == nil {
				l.err = l.opts.OnLog(ev.Log)
			}
		}
	}
}

// gaps counts the output chunks missing from a live sequence: Seq counts
// from 0 per attempt.
type gaps struct {
	attempt    int
	next, lost uint64
}

func (g *gaps) see(l *messages.Log) {
	if l.Attempt > g.attempt {
		g.attempt, g.next = l.Attempt, 0
	}
	if l.Seq > g.next {
		g.lost += l.Seq - g.next
	}
	g.next = l.Seq + 1
}
