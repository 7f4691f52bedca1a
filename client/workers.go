package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// ErrNoWorkersBucket means the workers bucket (messages.WorkersBucket) does
// not exist: the deployment predates it, or was never provisioned.
var ErrNoWorkersBucket = errors.New("no workers bucket")

// Workers returns the live workers, ordered by id: those whose lease in
// messages.WorkersBucket has not expired.
func (c *Client) Workers(ctx context.Context) ([]messages.WorkerInfo, error) {
	st, err := c.js.Stream(ctx, "KV_"+messages.WorkersBucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, ErrNoWorkersBucket
	}
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	prefix := "$KV." + messages.WorkersBucket + "."
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(prefix+">"))
	if err != nil {
		return nil, fmt.Errorf("workers: %w", err)
	}
	var out []messages.WorkerInfo
	for subject := range info.State.Subjects {
		m, err := st.GetLastMsgForSubject(ctx, subject)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("workers: %s: %w", strings.TrimPrefix(subject, prefix), err)
		}
		if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			continue
		}
		w, err := messages.DecodeWorkerInfo(m.Data)
		if err != nil {
			c.opts.logger.Warn("undecodable worker entry skipped", "subject", subject, "err", err)
			continue
		}
		out = append(out, *w)
	}
	slices.SortFunc(out, func(a, b messages.WorkerInfo) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
