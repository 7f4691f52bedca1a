package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// Worker consumes one queue and runs its tasks. Create it with New and
// start it with Run.
type Worker struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	drv  driver.Driver
	cfg  Config
	log  *slog.Logger
	subj messages.Subjects
	m    *metrics

	active    active
	interrupt chan struct{} // closed by Interrupt
	interOnce sync.Once
	slots     chan struct{} // a token per free slot
	started   atomic.Bool
	bound     atomic.Bool
	bindErr   atomic.Pointer[error] // why the last bind failed; nil once bound
	tasks     sync.WaitGroup

	mu   sync.RWMutex
	st   streams
	cons jetstream.Consumer
	obs  jetstream.ObjectStore // messages.ArtifactsBucket
}

// New returns a worker that consumes cfg.Queue on nc and runs tasks with
// drv. It validates cfg (after WithDefaults) and starts nothing: call Run.
func New(nc *nats.Conn, drv driver.Driver, cfg Config, logger *slog.Logger) (*Worker, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if nc == nil || drv == nil {
		return nil, fmt.Errorf("%w: a NATS connection and a driver are required", ErrInvalidConfig)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	w := &Worker{
		nc: nc, js: js, drv: drv, cfg: cfg,
		log:       logger.With("worker", cfg.WorkerID, "queue", cfg.Queue),
		subj:      messages.NewSubjects(cfg.Prefix),
		m:         newMetrics(cfg.Concurrency),
		active:    active{tasks: make(map[string]context.CancelCauseFunc)},
		interrupt: make(chan struct{}),
		slots:     make(chan struct{}, cfg.Concurrency),
	}
	for range cfg.Concurrency {
		w.slots <- struct{}{}
	}
	return w, nil
}

// Running returns the ids of the tasks the worker holds, sorted.
func (w *Worker) Running() []string { return w.active.ids() }

// Config returns the worker's configuration with defaults applied.
func (w *Worker) Config() Config { return w.cfg }

// Run provisions or verifies the streams (Config.VerifyStreams) and
// ensures the consumer, retrying until they answer (a missing stream is
// waited for), consumes until ctx is done, then
// drains: it stops pulling, waits up to DrainTimeout for held tasks, then
// cancels the rest and hands them back (Nak) at once for another worker.
// Interrupt cuts the drain short. Every container the worker started is
// removed before Run returns. It returns nil after a clean stop, or an
// error wrapping ErrLayout when a stream's settings are unsafe. Run may be
// called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice")
	}
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-w.interrupt:
			stop()
		case <-ctx.Done():
		}
	}()
	if err := w.bind(ctx); err != nil {
		if errors.Is(err, ErrLayout) && !errors.Is(err, errNotProvisioned) {
			return err
		}
		w.log.Info("worker stopped before it was bound", "err", err)
		return nil
	}
	sub, err := w.nc.Subscribe(w.subj.AllCancels(), w.onCancel)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", w.subj.AllCancels(), err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	w.log.Info("worker consuming", "consumer", messages.ConsumerName(w.cfg.Queue), "concurrency", w.cfg.Concurrency, "ack_wait", w.cfg.AckWait)

	taskCtx, stopTasks := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopTasks(ErrShutdown)
	w.pull(ctx, taskCtx)

	w.log.Info("worker draining", "held", w.held(), "drain_timeout", w.cfg.DrainTimeout)
	drained := make(chan struct{})
	go func() { w.tasks.Wait(); close(drained) }()
	t := time.NewTimer(w.cfg.DrainTimeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
		w.log.Warn("drain timeout: cancelling held tasks and handing them back", "held", w.held())
		stopTasks(ErrShutdown)
		<-drained
	case <-w.interrupt:
		w.log.Warn("interrupted: cancelling held tasks and handing them back", "held", w.held())
		stopTasks(ErrShutdown)
		<-drained
	}
	w.bound.Store(false)
	w.log.Info("worker stopped")
	return nil
}

// Interrupt stops the worker without waiting for its tasks: Run stops
// pulling, cancels every held task, hands it back (Nak) at once for another
// worker, removes its container and returns. It is the second stage of a
// stop, after cancelling Run's context started a drain; calling it again,
// or before Run, is harmless.
func (w *Worker) Interrupt() { w.interOnce.Do(func() { close(w.interrupt) }) }

// held returns how many tasks the worker holds.
func (w *Worker) held() int { return w.cfg.Concurrency - len(w.slots) }

// bindTryTimeout bounds one try of binding.
const bindTryTimeout = 15 * time.Second

// bind provisions the streams, or verifies them (Config.VerifyStreams),
// ensures the consumer and keeps their handles. It retries with backoff,
// every failure logged and kept for Ready, until it works or ctx ends. It
// stops early with an error wrapping ErrLayout when a stream exists with
// settings it refuses; a stream that does not exist yet is waited for.
func (w *Worker) bind(ctx context.Context) error {
	w.bound.Store(false)
	b := startupBackoff()
	for {
		err := w.bindOnce(ctx)
		if err == nil {
			w.bindErr.Store(nil)
			w.bound.Store(true)
			return nil
		}
		w.bindErr.Store(&err)
		if errors.Is(err, ErrLayout) && !errors.Is(err, errNotProvisioned) {
			w.log.Error("streams refused", "err", err)
			return err
		}
		next := b.NextBackOff()
		w.log.Warn("bind streams and consumer failed; retrying", "err", err, "retry_in", next)
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("bind: %w (stopped: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
	}
}

func (w *Worker) bindOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, bindTryTimeout)
	defer cancel()
	var (
		st  streams
		err error
	)
	if w.cfg.VerifyStreams {
		st, err = verifyStreams(ctx, w.js, w.cfg)
	} else {
		st, err = ensureStreams(ctx, w.js, w.cfg, w.log)
	}
	if err != nil {
		return err
	}
	obs, err := w.bindArtifacts(ctx)
	if err != nil {
		return err
	}
	cons, err := ensureConsumer(ctx, w.js, w.cfg)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.st, w.cons, w.obs = st, cons, obs
	w.mu.Unlock()
	w.m.dead.bind(st.dead, st.counters, w.subj)
	return nil
}

func (w *Worker) streams() streams {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.st
}

func (w *Worker) consumer() jetstream.Consumer {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.cons
}

// rebind binds again after consumer trouble, until it works or ctx ends.
// It is never a silent stall: every failure is logged, and a layout bind
// refuses is tried again every few seconds (an operator may provision it).
func (w *Worker) rebind(ctx context.Context, why error) {
	w.log.Warn("consumer trouble, binding again", "err", why)
	for w.bind(ctx) != nil {
		t := time.NewTimer(5 * time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// pull fetches exactly as many tasks as there are free slots, never more,
// and starts a handler for each, until ctx ends. A task that arrives after
// ctx ended is handed back at once.
func (w *Worker) pull(ctx, taskCtx context.Context) {
	lastCheck := time.Now()
	for {
		select {
		case <-w.slots:
		case <-ctx.Done():
			return
		}
		n := 1
	more:
		for n < w.cfg.Concurrency {
			select {
			case <-w.slots:
				n++
			default:
				break more
			}
		}
		batch, err := w.consumer().Fetch(n, jetstream.FetchMaxWait(w.cfg.PullWait))
		if err != nil {
			w.release(n)
			w.rebind(ctx, fmt.Errorf("fetch: %w", err))
			continue
		}
		got := 0
		for msg := range batch.Messages() {
			got++
			if ctx.Err() != nil {
				_ = msg.Nak()
				w.release(1)
				continue
			}
			w.tasks.Add(1)
			go func() {
				defer w.tasks.Done()
				defer w.release(1)
				w.handle(taskCtx, msg)
			}()
		}
		w.release(n - got)
		if err := batch.Error(); err != nil && ctx.Err() == nil {
			w.rebind(ctx, fmt.Errorf("fetch: %w", err))
			continue
		}
		// An idle pull on a consumer that was deleted gets no answer at
		// all; check now and then that it still exists.
		if got == 0 && time.Since(lastCheck) >= 5*w.cfg.PullWait && ctx.Err() == nil {
			lastCheck = time.Now()
			ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := w.consumer().Info(ictx)
			cancel()
			if err != nil && ctx.Err() == nil {
				w.rebind(ctx, fmt.Errorf("consumer info: %w", err))
			}
		}
	}
}

func (w *Worker) release(n int) {
	for range n {
		w.slots <- struct{}{}
	}
}
