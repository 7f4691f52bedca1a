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
	"github.com/vmihailenco/msgpack/v5"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// job is one delivery of one task message, owned by one goroutine.
type job struct {
	w       *Worker
	msg     jetstream.Msg
	attempt int
	last    bool // the last delivery MaxDeliver allows
	log     *slog.Logger

	id    string
	ev    *events
	done  bool // the message was acked, nak'ed or terminated
	hbEnd func()
}

// handle runs one delivery to its end: a Result then an ack or a term, or
// a Nak that hands it back. It never panics.
func (w *Worker) handle(base context.Context, msg jetstream.Msg) {
	w.m.running.Inc()
	defer w.m.running.Dec()
	j := &job{w: w, msg: msg, attempt: 1, log: w.log}
	if md, err := msg.Metadata(); err == nil {
		j.attempt = int(md.NumDelivered)
	}
	j.last = j.attempt >= w.cfg.MaxDeliver
	if j.attempt > 1 {
		w.m.redeliveries.Inc()
	}
	j.hbEnd = w.heartbeat(msg)
	defer j.hbEnd()
	defer j.recover()
	j.run(base)
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

// recover turns a panic while handling the task into its error Result.
func (j *job) recover() {
	r := recover()
	if r == nil {
		return
	}
	j.log.Error("panic while handling task", "panic", r, "stack", string(debug.Stack()))
	if j.done {
		return
	}
	reason := fmt.Sprintf("worker panic: %v", r)
	if j.ev == nil {
		j.terminate("panic", reason)
		return
	}
	j.finish(context.Background(), j.errorResult(reason), "panic: "+reason)
}

// envelope is the part of a task read from a message that does not decode
// as a Task, to address an error result.
type envelope struct {
	ID    string `msgpack:"id"`
	Reply string `msgpack:"reply"`
}

func (j *job) run(base context.Context) {
	w := j.w
	data := j.msg.Data()
	task, err := messages.DecodeTask(data)
	if err != nil {
		var env envelope
		_ = msgpack.Unmarshal(data, &env)
		j.refuse(&messages.Task{ID: env.ID, Reply: env.Reply}, "undecodable", fmt.Sprintf("undecodable task: %v", err))
		return
	}
	if err := task.Validate(); err != nil {
		j.refuse(task, "invalid", err.Error())
		return
	}
	if !validID(task.ID) {
		j.refuse(task, "invalid", fmt.Sprintf("invalid task: id: %q must be 1 to %d of A-Z a-z 0-9 _ -", task.ID, messages.MaxIDLen))
		return
	}
	if task.Reply != "" && !token(task.Reply, true) {
		j.refuse(task, "invalid", fmt.Sprintf("invalid task: reply: %q is not a subject prefix", task.Reply))
		return
	}
	j.id = task.ID
	j.log = j.log.With("task", task.ID, "attempt", j.attempt)
	lim, err := w.cfg.admit(task)
	if err != nil {
		j.refuse(task, "policy", err.Error())
		return
	}
	j.ev = w.newEvents(task.ID, w.subj.Reply(task), j.attempt, j.log)

	exists, err := j.ev.resultExists(base)
	switch {
	case err != nil:
		j.lookupFailed(base, err)
		return
	case exists:
		j.log.Info("task already has a result; not running it again")
		j.ack()
		return
	}

	if j.attempt > w.cfg.MaxDeliver {
		// The spare delivery: the last allowed attempt died with its worker.
		j.finish(base, j.errorResult(fmt.Sprintf("task was delivered %d times without finishing (its workers stopped or crashed while running it)", w.cfg.MaxDeliver)), "gave up")
		return
	}

	taskCtx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	if !w.active.add(task.ID, cancel) {
		j.requeue("duplicate", w.cfg.AckWait, errors.New("a task with this id is already held by this worker"))
		return
	}
	defer w.active.remove(task.ID)
	cause, err := w.storedCancel(base, task.ID)
	if err != nil {
		j.lookupFailed(base, err)
		return
	}
	if cause != nil {
		j.finish(base, j.cancelledResult(cause), "")
		return
	}

	j.ev.status(messages.StatePreparing, "")
	out := newOutput(j.ev, w.cfg)
	ct := &containerTask{t: task, timeout: lim.timeout, memory: lim.memory, out: out, ev: j.ev, labels: j.labels(task)}
	cookie, err := w.prepare(taskCtx, ct, j.log)
	if d := ct.pulled(); d > 0 {
		w.m.pull.Observe(d.Seconds())
	}
	if err != nil {
		j.prepareFailed(base, taskCtx, err)
		return
	}
	// The container is removed after the result is stored and the task
	// acked: the producer need not wait for the removal (a few ms), and
	// the slot stays taken until it is done. A crash in between leaves a
	// container that the next start of this worker id removes.
	defer closeCookie(cookie, j.log)

	res, started, runErr := j.runCookie(taskCtx, cookie, out)
	cause = context.Cause(taskCtx)
	switch {
	case errors.Is(cause, ErrShutdown):
		j.handBack(base)
		return
	case errors.Is(cause, ErrCancelRequested):
		r := j.cancelledResult(cause)
		j.addOutput(r, out, started)
		w.m.duration.WithLabelValues(r.Status).Observe(time.Since(started).Seconds())
		j.finish(base, r, "")
		return
	case runErr != nil:
		if j.last {
			j.finish(base, j.errorResult(fmt.Sprintf("run failed on the last allowed delivery (%d): %v", j.attempt, runErr)), "run failed")
			return
		}
		j.requeue("run", j.nakDelay(), runErr)
		return
	}
	r := &messages.Result{
		ID: task.ID, Status: string(res.Status()), ExitCode: res.ExitCode(), Error: res.Error(),
		OOM: errors.Is(res, driver.ErrOutOfMemory), Worker: w.cfg.WorkerID, Attempt: j.attempt,
	}
	if !res.Status().Final() {
		r.Status, r.Error = messages.ResultError, fmt.Sprintf("driver returned status %q: %s", res.Status(), res.Error())
	}
	j.addOutput(r, out, started)
	if s, ok := res.(driver.Starter); ok && !s.StartedAt().IsZero() {
		r.Started = s.StartedAt().UTC()
	}
	w.m.duration.WithLabelValues(r.Status).Observe(time.Since(started).Seconds())
	j.finish(base, r, "")
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

func (j *job) addOutput(r *messages.Result, out *output, started time.Time) {
	kept, dropped, stats := out.totals()
	r.LogBytes, r.LogDropped, r.Stats = kept, dropped, stats
	if r.Started.IsZero() {
		r.Started = started.UTC()
	}
	j.w.m.logBytes.Add(float64(kept))
	j.w.m.logDropped.Add(float64(dropped))
}

// labels are the task's labels plus the worker's own.
func (j *job) labels(t *messages.Task) map[string]string {
	l := make(map[string]string, len(t.Labels)+3)
	for k, v := range t.Labels {
		l[k] = v
	}
	l[LabelTask] = t.ID
	l[LabelWorker] = j.w.cfg.WorkerID
	l[LabelAttempt] = strconv.Itoa(j.attempt)
	return l
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

func (j *job) prepareFailed(base, taskCtx context.Context, err error) {
	cause := context.Cause(taskCtx)
	switch {
	case errors.Is(cause, ErrShutdown):
		j.handBack(base)
	case errors.Is(cause, ErrCancelRequested):
		j.finish(base, j.cancelledResult(cause), "")
	case !driver.IsTransient(err):
		j.finish(base, j.errorResult("prepare: "+err.Error()), "prepare failed permanently")
	case j.last:
		j.finish(base, j.errorResult(fmt.Sprintf("prepare still failing on the last allowed delivery (%d): %v", j.attempt, err)), "prepare failed on the last delivery")
	default:
		j.requeue("prepare", j.nakDelay(), err)
	}
}

// nakDelay grows with the delivery count: NakBaseDelay doubled per earlier
// delivery, up to NakMaxDelay, with ±20% jitter.
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

// refuse ends a task that must never run: an error Result when its id can
// be read, then Term with the reason.
func (j *job) refuse(t *messages.Task, kind, reason string) {
	j.log.Warn("task refused", "task", t.ID, "kind", kind, "reason", reason)
	if !validID(t.ID) {
		j.terminate(kind, reason)
		return
	}
	j.id = t.ID
	if t.Reply != "" && !token(t.Reply, true) {
		t = &messages.Task{ID: t.ID}
	}
	j.ev = j.w.newEvents(t.ID, j.w.subj.Reply(t), j.attempt, j.log)
	j.finish(context.Background(), j.errorResult(reason), kind+": "+reason)
}

// finish stores r and then acks the message, or terminates it with
// termReason when that is not empty. If r cannot be stored the message is
// handed back with a delay, so the task is not lost.
func (j *job) finish(ctx context.Context, r *messages.Result, termReason string) {
	ctx = context.WithoutCancel(ctx) // a result is stored even while shutting down
	if r.Finished.IsZero() {
		r.Finished = time.Now().UTC()
	}
	if err := j.ev.result(ctx, r); err != nil {
		j.log.Error("result not stored; handing the task back", "err", err)
		j.requeue("result", j.w.cfg.NakBaseDelay, err)
		return
	}
	j.w.m.tasks.WithLabelValues(r.Status).Inc()
	j.log.Info("task finished", "status", r.Status, "exit_code", r.ExitCode, "error", r.Error)
	if termReason != "" {
		j.terminate(termReasonKind(termReason), termReason)
		return
	}
	j.ack()
}

func termReasonKind(reason string) string {
	for i := 0; i < len(reason); i++ {
		if reason[i] == ':' || reason[i] == ' ' {
			return reason[:i]
		}
	}
	return reason
}

// ack waits for the server to confirm the ack (DoubleAck): only then is the
// slot free, so the server never counts more unacked tasks for this worker
// than it has slots.
func (j *job) ack() {
	j.hbEnd()
	j.done = true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := j.msg.DoubleAck(ctx); err != nil {
		j.log.Warn("ack", "err", err)
	}
}

func (j *job) terminate(kind, reason string) {
	j.hbEnd()
	j.done = true
	j.w.m.terminated.WithLabelValues(kind).Inc()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	if err := j.msg.TermWithReason(reason); err != nil {
		j.log.Warn("terminate", "err", err)
	}
}

// requeue hands the task back to be delivered again after delay.
func (j *job) requeue(kind string, delay time.Duration, why error) {
	j.hbEnd()
	j.done = true
	j.w.m.requeued.WithLabelValues(kind).Inc()
	j.log.Warn("task handed back", "kind", kind, "delay", delay, "err", why)
	var err error
	if delay <= 0 {
		err = j.msg.Nak()
	} else {
		err = j.msg.NakWithDelay(delay)
	}
	if err != nil {
		j.log.Warn("nak", "err", err)
	}
}

// handBack gives a task interrupted by shutdown to another worker at once,
// without a result; on the last allowed delivery no one would get it, so
// it gets an error Result instead.
func (j *job) handBack(base context.Context) {
	if j.last {
		j.finish(base, j.errorResult(fmt.Sprintf("worker shut down during the last allowed delivery (%d)", j.attempt)), "shutdown on the last delivery")
		return
	}
	j.requeue("shutdown", 0, ErrShutdown)
}

// lookupFailed hands the task back when JetStream could not be asked
// whether it already has a result or a cancel.
func (j *job) lookupFailed(base context.Context, err error) {
	if errors.Is(context.Cause(base), ErrShutdown) {
		j.handBack(base)
		return
	}
	j.requeue("lookup", j.w.cfg.NakBaseDelay, err)
}

// validID reports whether id is a valid task id (it is a subject token).
func validID(id string) bool { return len(id) <= messages.MaxIDLen && token(id, false) }
