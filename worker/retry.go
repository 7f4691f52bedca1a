package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go"
)

// startupBackoff paces the retries of what a worker needs before it can
// take tasks (binding its streams and consumer, taking its id): from
// 250 ms to 5 s, for as long as it takes.
func startupBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(backoff.WithInitialInterval(250*time.Millisecond), backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(0))
}

// retryNATS runs op until it succeeds, with exponential, jittered backoff
// between NATSRetryInitial and NATSRetryMax and no bound on the number of
// tries: an outage of JetStream, a stream or its leader only delays a
// task. Each try gets a context of its own bounded by NATSTryTimeout, and
// the first try is made even when ctx has already ended. It stops early
// when ctx ends (the error then wraps ctx's cause, ErrShutdown when the
// worker stops), when the connection is closed, and when op returns a
// backoff.Permanent error (which it returns unwrapped). Every failed try is
// logged to log as what.
func (w *Worker) retryNATS(ctx context.Context, log *slog.Logger, what string, op func(context.Context) error) error {
	return w.retry(ctx, log, what, func() (error, bool) {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.NATSTryTimeout)
		err := op(tctx)
		cancel()
		var perm *backoff.PermanentError
		switch {
		case err == nil:
			return nil, false
		case errors.As(err, &perm):
			return perm.Err, false
		case errors.Is(err, nats.ErrConnectionClosed):
			return err, false
		}
		return err, true
	})
}

// retry is the loop of retryNATS and retryObjects: it runs try until try
// says its error is not worth another try (or there is none), with their
// backoff, counting and logging each failed try, and stops when ctx ends.
func (w *Worker) retry(ctx context.Context, log *slog.Logger, what string, try func() (err error, again bool)) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(w.cfg.NATSRetryInitial),
		backoff.WithMaxInterval(w.cfg.NATSRetryMax),
		backoff.WithMaxElapsedTime(0),
	)
	for tries := 1; ; tries++ {
		err, again := try()
		switch {
		case !again:
			return err
		case ctx.Err() != nil:
			return fmt.Errorf("%w (stopped retrying after %d tries: %w)", err, tries, context.Cause(ctx))
		}
		w.m.natsRetries.Inc()
		next := b.NextBackOff()
		log.Warn(what+" failed; retrying", "err", err, "tries", tries, "retry_in", next)
		t := time.NewTimer(next)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (stopped retrying after %d tries: %w)", err, tries, context.Cause(ctx))
		case <-t.C:
		}
	}
}
