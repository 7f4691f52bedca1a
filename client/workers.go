package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// ErrNoWorkersBucket means the workers bucket (messages.WorkersBucket) does
// not exist: the deployment predates it, or was never provisioned.
var ErrNoWorkersBucket = errors.New("no workers bucket")

// Worker is a live worker as its lease shows it.
type Worker struct {
	messages.WorkerInfo
	// Seen is when the worker last wrote its lease (every 5 s while it
	// runs); Running is as of then.
	Seen time.Time
}

// Workers returns the live workers, ordered by id: those whose lease in
// messages.WorkersBucket has not expired. A worker that died drops out
// within one lease (messages.WorkerLeaseTTL).
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var out []Worker
	err := c.eachWorker(ctx, func(w Worker) bool {
		out = append(out, w)
		return true
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Worker) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// QueueWorker reports whether a live worker consumes queue; when none does
// it also returns the queues that have live workers, sorted. It reads
// leases only until it finds one of queue.
func (c *Client) QueueWorker(ctx context.Context, queue string) (served bool, others []string, err error) {
	err = c.eachWorker(ctx, func(w Worker) bool {
		if w.Queue == queue {
			served = true
			return false
		}
		if !slices.Contains(others, w.Queue) {
			others = append(others, w.Queue)
		}
		return true
	})
	if err != nil || served {
		return served, nil, err
	}
	slices.Sort(others)
	return false, others, nil
}

// eachWorker calls fn with each live worker, in no order, until fn returns
// false: one stream-info call lists the keys, then one direct get reads
// each lease.
func (c *Client) eachWorker(ctx context.Context, fn func(Worker) bool) error {
	st, err := c.js.Stream(ctx, "KV_"+messages.WorkersBucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return ErrNoWorkersBucket
	}
	if err != nil {
		return fmt.Errorf("workers: %w", err)
	}
	prefix := "$KV." + messages.WorkersBucket + "."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return fmt.Errorf("workers: %w", err)
	}
	for subject := range info.State.Subjects {
		m, err := st.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return fmt.Errorf("workers: %s: %w", strings.TrimPrefix(subject, prefix), err)
		}
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			continue
		}
		w, err := messages.DecodeWorkerInfo(m.Data)
		if err != nil {
			c.opts.logger.Warn("undecodable worker entry skipped", "subject", subject, "err", err)
			continue
		}
		if !fn(Worker{WorkerInfo: *w, Seen: m.Time.UTC()}) {
			return nil
		}
	}
	return nil
}
