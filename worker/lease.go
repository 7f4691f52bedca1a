package worker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// ErrWorkerIDTaken is returned by AcquireLease while another live worker
// holds the id.
var ErrWorkerIDTaken = errors.New("worker id held by another live worker")

// Lease is a worker's hold on its id in messages.WorkersBucket: while it is
// held no other worker starts with that id, so none removes this worker's
// containers. Release it when the worker stops.
type Lease struct {
	kv   jetstream.KeyValue
	info messages.WorkerInfo
	log  *slog.Logger
	ttl  time.Duration
	rev  uint64

	stop func()
	once sync.Once

	mu      sync.Mutex
	running func() []string
}

// Report makes every refresh of the lease carry running(), the ids of the
// tasks the worker holds (Worker.Running), for readers of the bucket.
func (l *Lease) Report(running func() []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running = running
}

// record is the entry's value as of now.
func (l *Lease) record() []byte {
	l.mu.Lock()
	info := l.info
	if l.running != nil {
		info.Running = l.running()
	}
	l.mu.Unlock()
	data, _ := messages.Encode(&info)
	return data
}

// workersBucketConfig is the layout of messages.WorkersBucket.
func workersBucketConfig(c Config) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      messages.WorkersBucket,
		Description: "jetrun live workers: one key per worker id, refreshed while it runs",
		TTL:         c.LeaseTTL,
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Streams.Replicas,
	}
}

// provisionWorkersBucket creates or updates the bucket.
func provisionWorkersBucket(ctx context.Context, js jetstream.JetStream, c Config) error {
	if _, err := js.CreateOrUpdateKeyValue(ctx, workersBucketConfig(c)); err != nil {
		return fmt.Errorf("ensure bucket %s: %w", messages.WorkersBucket, err)
	}
	return nil
}

// AcquireLease takes worker id c.WorkerID in messages.WorkersBucket
// (creating the bucket unless c.VerifyStreams) and keeps it refreshed
// until Release. When another process holds the id it waits one lease
// period: a holder that refreshes meanwhile is alive, and AcquireLease
// returns ErrWorkerIDTaken naming it; one that does not (a crashed
// worker) loses the id. NATS errors, and a bucket not provisioned yet, are
// logged and retried until ctx ends.
func AcquireLease(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) (*Lease, error) {
	c = c.WithDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host, _ := os.Hostname()
	l := &Lease{log: log, ttl: c.LeaseTTL, info: messages.WorkerInfo{
		ID: c.WorkerID, Instance: rand.Text(), Host: host, PID: os.Getpid(),
		Queue: c.Queue, Concurrency: c.Concurrency, Started: time.Now().UTC(), Version: version(),
	}}
	b := startupBackoff()
	err := backoff.RetryNotify(func() error {
		err := l.acquire(ctx, js, c)
		if errors.Is(err, ErrWorkerIDTaken) || ctx.Err() != nil {
			return backoff.Permanent(err)
		}
		return err
	}, backoff.WithContext(b, ctx), func(err error, next time.Duration) {
		log.Warn("take the worker id", "err", err, "retry_in", next)
	})
	if err != nil {
		return nil, err
	}
	l.keep()
	return l, nil
}

func (l *Lease) acquire(ctx context.Context, js jetstream.JetStream, c Config) error {
	var err error
	if c.VerifyStreams {
		l.kv, err = js.KeyValue(ctx, messages.WorkersBucket)
	} else {
		l.kv, err = js.CreateOrUpdateKeyValue(ctx, workersBucketConfig(c))
	}
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return fmt.Errorf("%w: bucket %s does not exist: provision the streams first (worker --provision, with the admin user)", ErrLayout, messages.WorkersBucket)
	}
	if err != nil {
		return fmt.Errorf("bucket %s: %w", messages.WorkersBucket, err)
	}
	data := l.record()
	key := c.WorkerID
	for {
		if l.rev, err = l.kv.Create(ctx, key, data); err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("take worker id %q: %w", key, err)
		}
		held, err := l.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("read worker id %q: %w", key, err)
		}
		if err := l.waitOut(ctx, key, held); err != nil {
			return err
		}
	}
}

// waitOut waits up to one lease period for the entry held to expire or be
// deleted; a refresh of it means its worker is alive.
func (l *Lease) waitOut(ctx context.Context, key string, held jetstream.KeyValueEntry) error {
	other, _ := messages.DecodeWorkerInfo(held.Value())
	l.log.Warn("worker id held; waiting one lease period to see whether its worker is alive", "worker_id", key, "lease", l.ttl)
	deadline := time.Now().Add(l.ttl + time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(l.ttl / 15):
		}
		now, err := l.kv.Get(ctx, key)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("read worker id %q: %w", key, err)
		case now.Revision() != held.Revision():
			return takenError(key, other)
		}
	}
	// Not refreshed for a whole lease: the server expires it.
	return fmt.Errorf("worker id %q: entry not expired after its lease", key)
}

func takenError(key string, other *messages.WorkerInfo) error {
	if other == nil {
		return fmt.Errorf("%w: %q", ErrWorkerIDTaken, key)
	}
	return fmt.Errorf("%w: %q is held by the worker on host %s (pid %d, queue %s, since %s); give this worker another --worker-id",
		ErrWorkerIDTaken, key, other.Host, other.PID, other.Queue, other.Started.Format(time.RFC3339))
}

// keep refreshes the entry every WorkerLeaseTTL/3 until Release.
func (l *Lease) keep() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		t := time.NewTicker(l.ttl / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			data := l.record()
			rctx, rcancel := context.WithTimeout(ctx, l.ttl/3)
			rev, err := l.kv.Update(rctx, l.info.ID, data, l.rev)
			if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyExists) {
				// Expired during an outage, or taken: take it again only
				// when it is free.
				rev, err = l.kv.Create(rctx, l.info.ID, data)
			}
			rcancel()
			if err != nil {
				l.log.Warn("refresh worker id lease", "worker_id", l.info.ID, "err", err)
				continue
			}
			l.rev = rev
		}
	}()
}

// Release stops refreshing the lease and deletes the entry, so the id is
// free at once. It is safe to call more than once.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.stop()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := l.kv.Delete(ctx, l.info.ID, jetstream.LastRevision(l.rev)); err != nil {
			l.log.Warn("release worker id", "worker_id", l.info.ID, "err", err)
		}
	})
}

// version is the main module's version from the build info, "(devel)"
// for a build from a work tree.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
