package dashboard

import (
	"context"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// Backend is what the dashboard reads and does, all of it through
// JetStream. *client.Client satisfies it.
type Backend interface {
	Queues(ctx context.Context) ([]client.Queue, error)
	Workers(ctx context.Context) ([]client.Worker, error)
	Status(ctx context.Context, id string) (client.TaskStatus, error)
	Logs(ctx context.Context, id string, follow bool, fn func(*messages.Log) error) error
	Cancel(ctx context.Context, id, reason string) error
}

var _ Backend = (*client.Client)(nil)
