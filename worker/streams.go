package worker

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// EnsureStreams creates or updates JETRUN_TASKS, JETRUN_EVENTS and
// JETRUN_CANCELS for prefix, with the default sizes (see StreamConfig).
func EnsureStreams(ctx context.Context, js jetstream.JetStream, prefix string) error {
	_, err := ensureStreams(ctx, js, Config{Prefix: prefix}.WithDefaults())
	return err
}

// streams are the handles a worker looks messages up in.
type streams struct {
	events, cancels jetstream.Stream
}

func ensureStreams(ctx context.Context, js jetstream.JetStream, c Config) (streams, error) {
	subj := messages.NewSubjects(c.Prefix)
	s := c.Streams
	cfgs := []jetstream.StreamConfig{{
		Name:        messages.TasksStream,
		Description: "jetrun tasks, one durable pull consumer per queue",
		Subjects:    []string{subj.AllTasks()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  s.Duplicates,
		MaxMsgSize:  s.MaxTaskSize,
		Replicas:    s.Replicas,
	}, {
		Name:        messages.EventsStream,
		Description: "jetrun task status, log, stat and result events",
		Subjects:    []string{subj.AllEvents()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		MaxAge:      s.EventsMaxAge,
		MaxBytes:    s.EventsMaxBytes,
		Duplicates:  s.Duplicates,
		AllowDirect: true,
		Replicas:    s.Replicas,
	}, {
		Name:              CancelsStream,
		Description:       "jetrun cancels, so one sent before a worker picks the task up still applies",
		Subjects:          []string{subj.AllCancels()},
		Retention:         jetstream.LimitsPolicy,
		Storage:           jetstream.FileStorage,
		Discard:           jetstream.DiscardOld,
		MaxAge:            s.CancelsMaxAge,
		MaxMsgsPerSubject: 1,
		MaxBytes:          64 << 20,
		AllowDirect:       true,
		Replicas:          s.Replicas,
	}}
	var out []jetstream.Stream
	for _, cfg := range cfgs {
		st, err := js.CreateOrUpdateStream(ctx, cfg)
		if err != nil {
			return streams{}, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
		out = append(out, st)
	}
	return streams{events: out[1], cancels: out[2]}, nil
}

// ConsumerName is the durable consumer of queue shared by the fleet.
func ConsumerName(queue string) string { return "jetrun-" + queue }

func ensureConsumer(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Consumer, error) {
	name := ConsumerName(c.Queue)
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.TasksStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "jetrun workers of queue " + c.Queue,
		FilterSubject: messages.NewSubjects(c.Prefix).Task(c.Queue),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		// One spare delivery past MaxDeliver: when a worker dies during the
		// last allowed attempt, the next worker records the give-up Result
		// instead of the task vanishing without one.
		MaxDeliver:    c.MaxDeliver + 1,
		MaxAckPending: c.MaxAckPending,
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", name, err)
	}
	return cons, nil
}
