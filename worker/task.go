package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// job is one delivery of one task message, owned by one goroutine. Its
// life is admit → execute → outcome → settle.
type job struct {
	w         *Worker
	msg       jetstream.Msg
	attempt   int       // the run this delivery makes (or would make), from 1
	published time.Time // when the task message was stored
	last      bool      // the last run MaxDeliver allows
	log       *slog.Logger

	id    string  // set once the task's id is known to be valid
	ev    *events // set with id
	done  bool    // the message was acked, nak'ed or terminated
	hbEnd func()
	after []func() // run, last first, once the message is settled
}

// handle runs one delivery to its end: a Result then an ack or a term, or
// a Nak that hands it back. It never panics.
func (w *Worker) handle(base context.Context, msg jetstream.Msg) {
	w.m.running.Inc()
	defer w.m.running.Dec()
	j := &job{w: w, msg: msg, attempt: 1, log: w.log}
	j.last = j.attempt >= w.cfg.MaxDeliver
	if md, err := msg.Metadata(); err == nil {
		j.published = md.Timestamp
		if md.NumDelivered > 1 {
			w.m.redeliveries.Inc()
		}
	}
	j.hbEnd = w.heartbeat(msg)
	defer j.hbEnd()
	defer func() {
		for i := len(j.after) - 1; i >= 0; i-- {
			j.after[i]()
		}
	}()
	defer j.recoverSettle()
	j.settle(base, j.process(base))
}

// heartbeat extends msg's lease every HeartbeatInterval until the returned
// func is called.
func (w *Worker) heartbeat(msg jetstream.Msg) func() {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(w.cfg.HeartbeatInterval)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if err := msg.InProgress(); err != nil {
					w.log.Warn("heartbeat", "err", err)
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(stop); wg.Wait() }) }
}

// process decides the delivery's outcome; a panic while deciding becomes an
// error result and Term.
func (j *job) process(base context.Context) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = j.panicked(r)
		}
	}()
	a, refused := j.admit()
	if refused != nil {
		return *refused
	}
	return j.execute(base, a)
}

func (j *job) panicked(r any) outcome {
	j.log.Error("panic while handling task", "panic", r, "stack", string(debug.Stack()))
	reason := fmt.Sprintf("worker panic: %v", r)
	if j.ev == nil {
		return terminate(nil, KindPanic, reason)
	}
	return terminate(j.errorResult(reason), KindPanic, reason)
}

// recoverSettle ends a delivery whose settling panicked, if it is not
// settled yet, so that it is not left to its lease.
func (j *job) recoverSettle() {
	r := recover()
	if r == nil {
		return
	}
	j.log.Error("panic while settling task", "panic", r, "stack", string(debug.Stack()))
	if !j.done {
		j.settle(context.Background(), terminate(nil, KindPanic, fmt.Sprintf("worker panic: %v", r)))
	}
}

// bind names the delivery's task once its id is known valid: its log and
// its events under reply prefix reply (stored: in the events stream).
func (j *job) bind(id, reply string, stored bool) {
	j.id = id
	j.log = j.w.log.With("task", id)
	j.ev = j.w.newEvents(id, reply, stored, j.attempt, j.log)
}

// setAttempt makes n the run this delivery makes, in its log, its events
// and whether it is the last allowed.
func (j *job) setAttempt(n int) {
	j.attempt = n
	j.last = n >= j.w.cfg.MaxDeliver
	j.log = j.w.log.With("task", j.id, "attempt", n)
	j.ev.attempt, j.ev.log = n, j.log
}

// deferSettled runs f once the message is settled, after the functions
// deferred after it.
func (j *job) deferSettled(f func()) { j.after = append(j.after, f) }

// execute runs an admitted task and says how it ended.
func (j *job) execute(base context.Context, a *admitted) outcome {
	w := j.w
	j.bind(a.task.ID, a.reply, a.stored)

	var earlier *messages.Result
	err := w.retryNATS(base, j.log, "look up earlier result", func(ctx context.Context) (err error) {
		earlier, err = j.ev.storedResult(ctx)
		return err
	})
	switch {
	case err != nil:
		return j.lookupFailed(base, err)
	case earlier != nil:
		j.log.Info("task already has a result; not running it again")
		// The delivery that stored it may have died before the
		// inventory's records: write them (again) before the ack.
		if err := j.record(base, earlier); err != nil {
			return requeue(KindResult, 0, err)
		}
		return ack(nil)
	}
	var runs int
	err = w.retryNATS(base, j.log, "look up runs", func(ctx context.Context) (err error) {
		runs, err = w.runsSoFar(ctx, a.task.ID)
		return err
	})
	if err != nil {
		return j.lookupFailed(base, err)
	}
	j.setAttempt(runs + 1)
	a.labels[LabelAttempt] = strconv.Itoa(j.attempt)
	if runs >= w.cfg.MaxDeliver {
		// The last allowed run ended without a stored result.
		reason := fmt.Sprintf("task was started %d times, the most allowed, without finishing: the workers running it stopped or crashed before storing a result", runs)
		return terminate(j.errorResult(reason), KindGaveUp, reason)
	}

	taskCtx, cancel := context.WithCancelCause(base)
	j.deferSettled(func() { cancel(nil) })
	if !w.active.add(a.task.ID, cancel) {
		return requeue(KindDuplicate, w.cfg.AckWait, errors.New("a task with this id is already held by this worker"))
	}
	j.deferSettled(func() { w.active.remove(a.task.ID) })
	var cause error
	err = w.retryNATS(base, j.log, "look up stored cancel", func(ctx context.Context) (err error) {
		cause, err = w.storedCancel(ctx, a.task.ID, j.published)
		return err
	})
	if err != nil {
		return j.lookupFailed(base, err)
	}
	if cause != nil {
		return ack(j.cancelledResult(cause))
	}
	// Counted before the container exists: a worker that dies while the
	// task prepares or runs has used this run.
	err = w.retryNATS(base, j.log, "record run", func(ctx context.Context) error {
		return w.recordRun(ctx, a.task.ID, j.attempt)
	})
	if err != nil {
		return j.lookupFailed(base, err)
	}

	j.ev.status(messages.StatePreparing, "")
	out := newOutput(j.ev, w.cfg)
	ct := &containerTask{a: a, out: out, ev: j.ev}
	if o := j.checkInputs(base, taskCtx, ct); o != nil {
		return *o
	}
	cookie, err := w.prepare(taskCtx, ct, j.log)
	if d := ct.pulled(); d > 0 {
		w.m.pull.Observe(d.Seconds())
	}
	if err != nil {
		return j.prepareFailed(base, taskCtx, err)
	}
	// The container is removed once the result is stored and the task
	// settled: the producer need not wait for the removal, and the slot
	// stays taken until it is done.
	j.deferSettled(func() { closeCookie(cookie, j.log) })
	files, o := j.placeInputs(base, taskCtx, cookie, ct)
	if o != nil {
		return *o
	}

	res, started, runErr := j.runCookie(taskCtx, cookie, out)
	cause = context.Cause(taskCtx)
	switch {
	case errors.Is(cause, ErrShutdown):
		return j.handBack()
	case errors.Is(cause, ErrCancelRequested):
		r := j.cancelledResult(cause)
		j.addOutput(r, out, started)
		return j.finish(base, r, files, ct)
	case runErr != nil:
		if j.last {
			reason := fmt.Sprintf("run failed on the last allowed run (%d): %v", j.attempt, runErr)
			return terminate(j.errorResult(reason), KindLastDelivery, reason)
		}
		return requeue(KindRun, j.nakDelay(), runErr)
	}
	r := j.runResult(res)
	j.addOutput(r, out, started)
	if s, ok := res.(driver.Starter); ok && !s.StartedAt().IsZero() {
		r.Started = s.StartedAt().UTC()
	}
	return j.finish(base, r, files, ct)
}

// runResult is the Result of a container that ran to a final status.
func (j *job) runResult(res driver.RunResult) *messages.Result {
	r := &messages.Result{
		ID: j.id, ExitCode: res.ExitCode(), Error: res.Error(),
		OOM: errors.Is(res, driver.ErrOutOfMemory), Worker: j.w.cfg.WorkerID, Attempt: j.attempt,
	}
	var ok bool
	if r.Status, ok = resultStatus(res.Status()); !ok {
		r.Error = fmt.Sprintf("driver returned status %q: %s", res.Status(), res.Error())
	}
	return r
}

// runCookie runs the container with its output published while it runs,
// and returns once every byte of output is handed to the publisher.
func (j *job) runCookie(ctx context.Context, cookie driver.Cookie, out *output) (driver.RunResult, time.Time, error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		out.run(stop, j.w.cfg.LogFlushInterval)
	}()
	defer func() { close(stop); wg.Wait() }()
	j.ev.status(messages.StateRunning, "")
	started := time.Now()
	res, err := cookie.Run(ctx)
	if err == nil && res == nil {
		err = errors.New("driver returned neither a result nor an error")
	}
	return res, started, err
}

func closeCookie(c driver.Cookie, log *slog.Logger) {
	if err := c.Close(); err != nil {
		log.Warn("close container", "err", err)
	}
}

// addOutput records the output totals and the run time of a task that
// started.
func (j *job) addOutput(r *messages.Result, out *output, started time.Time) {
	kept, dropped, stats := out.totals()
	r.LogBytes, r.LogDropped, r.Stats = kept, dropped, stats
	if r.Started.IsZero() {
		r.Started = started.UTC()
	}
	j.w.m.logBytes.Add(float64(kept))
	j.w.m.logDropped.Add(float64(dropped))
	j.w.m.duration.WithLabelValues(r.Status).Observe(time.Since(started).Seconds())
}

// prepare calls the driver, retrying transient errors with exponential,
// jittered backoff bounded in elapsed time.
func (w *Worker) prepare(ctx context.Context, ct *containerTask, log *slog.Logger) (driver.Cookie, error) {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(w.cfg.PrepareInitialInterval),
		backoff.WithMaxInterval(w.cfg.PrepareMaxInterval),
		backoff.WithMaxElapsedTime(w.cfg.PrepareMaxElapsed),
		backoff.WithRandomizationFactor(0.5),
	)
	var cookie driver.Cookie
	op := func() error {
		c, err := w.drv.Prepare(ctx, ct)
		if err == nil {
			cookie = c
			return nil
		}
		if ctx.Err() != nil || !driver.IsTransient(err) {
			return backoff.Permanent(err)
		}
		return err
	}
	err := backoff.RetryNotify(op, backoff.WithContext(b, ctx), func(err error, next time.Duration) {
		w.m.prepareRetries.Inc()
		log.Warn("prepare failed, retrying", "err", err, "retry_in", next)
		ct.ev.status(messages.StatePreparing, fmt.Sprintf("retrying in %v: %v", next.Round(100*time.Millisecond), err))
	})
	if err != nil && cookie != nil {
		closeCookie(cookie, log)
		cookie = nil
	}
	if err == nil && cookie == nil {
		err = driver.Permanent(errors.New("driver returned neither a cookie nor an error"))
	}
	return cookie, err
}

func (j *job) prepareFailed(base, taskCtx context.Context, err error) outcome {
	cause := context.Cause(taskCtx)
	switch {
	case errors.Is(cause, ErrShutdown):
		return j.handBack()
	case errors.Is(cause, ErrCancelRequested):
		return ack(j.cancelledResult(cause))
	case !driver.IsTransient(err):
		return terminate(j.errorResult("prepare: "+err.Error()), KindPrepare, "prepare failed permanently")
	case errors.Is(err, driver.ErrImageUnavailable):
		// The registry, not this worker's infrastructure: its budget is
		// spent, so the task fails rather than wait through every delivery.
		reason := fmt.Sprintf("prepare: image still unavailable after retrying for %v: %v", j.w.cfg.PrepareMaxElapsed, err)
		return terminate(j.errorResult(reason), KindPrepare, reason)
	case j.last:
		reason := fmt.Sprintf("prepare still failing on the last allowed run (%d): %v", j.attempt, err)
		return terminate(j.errorResult(reason), KindLastDelivery, reason)
	}
	return requeue(KindPrepare, j.nakDelay(), err)
}

// nakDelay grows with the run count: NakBaseDelay doubled per earlier run,
// up to NakMaxDelay, with ±20% jitter.
func (j *job) nakDelay() time.Duration {
	d := j.w.cfg.NakBaseDelay
	for i := 1; i < j.attempt && d < j.w.cfg.NakMaxDelay; i++ {
		d *= 2
	}
	d = min(d, j.w.cfg.NakMaxDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

func (j *job) errorResult(msg string) *messages.Result {
	return &messages.Result{
		ID: j.id, Status: messages.ResultError, ExitCode: -1, Error: msg,
		Worker: j.w.cfg.WorkerID, Attempt: j.attempt,
	}
}

func (j *job) cancelledResult(cause error) *messages.Result {
	r := j.errorResult(cause.Error())
	r.Status = messages.ResultCancelled
	return r
}

// handBack gives a task whose run was interrupted by shutdown to another
// worker at once, without a result; on the last allowed run no one would
// run it again, so it gets an error Result instead.
func (j *job) handBack() outcome {
	if j.last {
		reason := fmt.Sprintf("worker shut down during the last allowed run (%d)", j.attempt)
		return terminate(j.errorResult(reason), KindLastDelivery, reason)
	}
	return requeue(KindShutdown, 0, ErrShutdown)
}

// lookupFailed hands back a task that has not started this run, because
// JetStream could not be asked about it (or the run recorded) before the
// worker stopped or lost its connection: no run is used, no result made.
func (j *job) lookupFailed(base context.Context, err error) outcome {
	if errors.Is(context.Cause(base), ErrShutdown) {
		return requeue(KindShutdown, 0, err)
	}
	return requeue(KindLookup, j.w.cfg.NakBaseDelay, err)
}
