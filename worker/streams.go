package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
		Name:              messages.CancelsStream,
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
		st, err := ensureStream(ctx, js, cfg)
		if err != nil {
			return streams{}, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
		out = append(out, st)
	}
	return streams{events: out[1], cancels: out[2]}, nil
}

// ensureStream creates the stream, or updates it only when its settings
// differ from want: a fleet restarting at once then sends one update, not
// one per worker (nats-server 2.15 also races a stream update against a
// concurrent consumer create, which -race reports in our tests).
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, want) // another worker created it first
		}
		return st, err
	case err != nil:
		return nil, err
	case streamSettingsMatch(st.CachedInfo().Config, want):
		return st, nil
	default:
		return js.UpdateStream(ctx, want)
	}
}

// streamSettingsMatch reports whether have already has every setting want
// sets; fields want leaves zero are the server's defaults and not compared.
func streamSettingsMatch(have, want jetstream.StreamConfig) bool {
	eq := func(h, w int64) bool { return w == 0 || h == w }
	return have.Description == want.Description &&
		slices.Equal(have.Subjects, want.Subjects) &&
		have.Retention == want.Retention &&
		have.Storage == want.Storage &&
		have.Discard == want.Discard &&
		have.AllowDirect == want.AllowDirect &&
		eq(int64(have.MaxAge), int64(want.MaxAge)) &&
		eq(have.MaxBytes, want.MaxBytes) &&
		eq(int64(have.Duplicates), int64(want.Duplicates)) &&
		eq(int64(have.MaxMsgSize), int64(want.MaxMsgSize)) &&
		eq(have.MaxMsgsPerSubject, want.MaxMsgsPerSubject) &&
		eq(int64(have.Replicas), int64(want.Replicas))
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Consumer, error) {
	name := messages.ConsumerName(c.Queue)
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
