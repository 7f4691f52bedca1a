package dashboard

import (
	"context"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// Backend is what the dashboard reads and does, all of it through
// JetStream. *client.Client satisfies it.
type Backend interface {
	Queues(ctx context.Context) ([]client.Queue, error)
	Workers(ctx context.Context) ([]client.Worker, error)
	Finished(ctx context.Context, queue string, steps int, step time.Duration) ([]uint64, error)

	List(ctx context.Context, o client.ListOptions) (*client.TaskPage, error)
	Inspect(ctx context.Context, id string) (*client.TaskDetail, error)
	Logs(ctx context.Context, id string, follow bool, fn func(*messages.Log) error) error
	Stats(ctx context.Context, id string) ([]messages.Stat, error)

	Cancel(ctx context.Context, id, reason string) error
	Retry(ctx context.Context, id string) (string, error)
	RetryAll(ctx context.Context, f client.RetryFilter) ([]client.Retried, error)
	Purge(ctx context.Context, id string) error
	PurgeAll(ctx context.Context, f client.RetryFilter) (int, error)
}

var _ Backend = (*client.Client)(nil)
