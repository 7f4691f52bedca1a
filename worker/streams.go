package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// EnsureStreams creates or updates JETRUN_TASKS, JETRUN_EVENTS,
// JETRUN_CANCELS, JETRUN_RESULTS and JETRUN_RUNS for prefix, with the
// default sizes (see StreamConfig). It is Provision with defaults.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, prefix string) error {
	return Provision(ctx, js, Config{Prefix: prefix}, nil)
}

// Provision creates or updates the five streams for c.Prefix, and the
// workers bucket (messages.WorkersBucket), with
// c.Streams' settings (defaults for zero fields), so that a worker
// verifying them (Config.VerifyStreams) accepts them. It is the
// provisioning step: js needs the rights to create and update streams.
// It never lowers a setting an operator made stronger on an existing
// stream (more replicas, larger limits, fewer consumers on
// JETRUN_EVENTS): it keeps that one and logs the difference to log (nil:
// not logged). Consumers are left to the workers.
func Provision(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if _, err := ensureStreams(ctx, js, c.WithDefaults(), log); err != nil {
		return err
	}
	if _, err := ensureArtifacts(ctx, js, c.WithDefaults()); err != nil {
		return err
	}
	return provisionWorkersBucket(ctx, js, c.WithDefaults())
}

// StreamNames are the streams Provision creates, in the order tasks,
// events, cancels, results, runs, index, dead, counters.
func StreamNames() []string {
	return []string{messages.TasksStream, messages.EventsStream, messages.CancelsStream, messages.ResultsStream, messages.RunsStream,
		messages.IndexStream, messages.DeadStream, messages.CountersStream}
}

// streams are the handles a worker looks messages up in.
type streams struct {
	events, cancels, results, runs, dead, counters jetstream.Stream
}

// streamConfigs is the layout of docs/protocol.md for c, in the order
// tasks, events, cancels, results, runs.
func streamConfigs(c Config) []jetstream.StreamConfig {
	subj := messages.NewSubjects(c.Prefix)
	s := c.Streams
	return []jetstream.StreamConfig{{
		Name:        messages.TasksStream,
		Description: "jetrun tasks, one durable pull consumer per queue",
		Subjects:    []string{subj.AllTasks()},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  s.Duplicates,
		MaxMsgSize:  s.MaxTaskSize,
		// The inventory lists queued tasks with direct gets.
		AllowDirect: true,
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
		// Readers replay events with consumers of their own: at most
		// EventsMaxConsumers of them, and the server deletes any, durable
		// or not, idle for EventsConsumerIdle.
		MaxConsumers: s.EventsMaxConsumers,
		// (No MaxAckPending limit: the server would apply it to
		// consumers without acks, and refuse them.)
		ConsumerLimits: jetstream.StreamConsumerLimits{InactiveThreshold: s.EventsConsumerIdle},
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
	}, {
		Name:        messages.ResultsStream,
		Description: "jetrun results, exactly one per task id: the run-once guard",
		Subjects:    []string{subj.AllStoredResults()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		// One message per task id, and a second one refused: the first
		// result stays for ResultsMaxAge.
		Discard:              jetstream.DiscardNew,
		DiscardNewPerSubject: true,
		MaxMsgsPerSubject:    1,
		MaxAge:               s.ResultsMaxAge,
		MaxBytes:             s.ResultsMaxBytes,
		Duplicates:           s.Duplicates,
		AllowDirect:          true,
		Replicas:             s.Replicas,
	}, {
		Name:        messages.RunsStream,
		Description: "jetrun run records: how many times each task was started, which MaxDeliver bounds",
		Subjects:    []string{subj.AllRuns()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		// The last run of each task; a record older than RunsMaxAge is
		// dropped, and the task's runs count from 0 again.
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1,
		MaxAge:            s.RunsMaxAge,
		MaxBytes:          s.RunsMaxBytes,
		Duplicates:        s.Duplicates,
		AllowDirect:       true,
		Replicas:          s.Replicas,
	}, {
		Name:        messages.IndexStream,
		Description: "jetrun task index: one summary per finished task, by state, queue and id",
		Subjects:    []string{subj.AllIndex()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Discard:     jetstream.DiscardOld,
		// One record per task; its subject's state token makes "the
		// failed tasks of queue Q" a subject filter.
		MaxMsgsPerSubject: 1,
		MaxAge:            s.IndexMaxAge,
		MaxBytes:          s.IndexMaxBytes,
		Duplicates:        s.Duplicates,
		AllowDirect:       true,
		Replicas:          s.Replicas,
	}, {
		Name:        messages.DeadStream,
		Description: "jetrun dead letters: the task message of every task that did not succeed",
		Subjects:    []string{subj.AllDead()},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		// The oldest go first, counted (jetrun_dead_letters_dropped_total).
		Discard:           jetstream.DiscardOld,
		MaxMsgsPerSubject: 1,
		MaxAge:            s.DeadMaxAge,
		MaxBytes:          s.DeadMaxBytes,
		MaxMsgSize:        s.MaxTaskSize + 4096,
		Duplicates:        s.Duplicates,
		AllowDirect:       true,
		Replicas:          s.Replicas,
	}, {
		Name:            messages.CountersStream,
		Description:     "jetrun counters: dead letters removed by purge and retry",
		Subjects:        []string{subj.AllCounters()},
		Retention:       jetstream.LimitsPolicy,
		Storage:         jetstream.FileStorage,
		Discard:         jetstream.DiscardOld,
		AllowMsgCounter: true,
		AllowDirect:     true,
		MaxBytes:        1 << 20,
		Replicas:        s.Replicas,
	}}
}

// ensureStreams provisions c's layout and returns its handles; settings
// an operator made stronger are kept and logged to log.
func ensureStreams(ctx context.Context, js jetstream.JetStream, c Config, log *slog.Logger) (streams, error) {
	return bindStreams(ctx, js, c, func(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
		return ensureStream(ctx, js, want, log)
	})
}

// verifyStreams checks that c's layout is provisioned and returns its
// handles; it never creates or updates a stream. Errors wrap ErrLayout
// when a stream is missing or differs in a setting listed by layoutDiffs.
func verifyStreams(ctx context.Context, js jetstream.JetStream, c Config) (streams, error) {
	return bindStreams(ctx, js, c, verifyStream)
}

func bindStreams(ctx context.Context, js jetstream.JetStream, c Config,
	bind func(context.Context, jetstream.JetStream, jetstream.StreamConfig) (jetstream.Stream, error),
) (streams, error) {
	var out []jetstream.Stream
	for _, cfg := range streamConfigs(c) {
		st, err := bind(ctx, js, cfg)
		if err != nil {
			return streams{}, fmt.Errorf("stream %s: %w", cfg.Name, err)
		}
		out = append(out, st)
	}
	return streams{events: out[1], cancels: out[2], results: out[3], runs: out[4], dead: out[6], counters: out[7]}, nil
}

// provisionHint says how to fix a layout a worker refuses.
const provisionHint = "provision the streams: run `worker --provision` with the same --prefix and the admin credentials of nats.conf (docs/deployment.md)"

// verifyStream returns the stream named in want if its settings are safe
// for want's purpose (layoutDiffs).
func verifyStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("%w: %w: the stream does not exist yet; %s", ErrLayout, errNotProvisioned, provisionHint)
	}
	if err != nil {
		return nil, err
	}
	if d := layoutDiffs(st.CachedInfo().Config, want); len(d) > 0 {
		return nil, fmt.Errorf("%w: %s; %s", ErrLayout, strings.Join(d, "; "), provisionHint)
	}
	return st, nil
}

// ensureStream creates the stream, or updates it only when its settings
// differ from want's, stronger ones kept (keepStronger, logged to log): a
// fleet restarting at once then sends one update, not one per worker
// (nats-server 2.15 also races a stream update against a concurrent
// consumer create, which -race reports in our tests).
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *slog.Logger) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, want.Name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		st, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return ensureStream(ctx, js, want, log) // another worker created it first
		}
		return st, err
	case err != nil:
		return nil, err
	}
	have := st.CachedInfo().Config
	want, kept := keepStronger(have, want)
	for _, k := range kept {
		log.Warn("stream setting stronger than jetrun's; kept", "stream", want.Name, "setting", k)
	}
	if streamSettingsMatch(have, want) {
		return st, nil
	}
	return js.UpdateStream(ctx, want)
}

// keepStronger returns want with the settings in which have is stronger
// put back: more replicas, a larger (or unlimited) max age, max bytes,
// max message size or duplicate window, fewer consumers or a shorter
// consumer idle time where want bounds them, and have's placement when
// want sets none. kept says, for a person, what was kept.
func keepStronger(have, want jetstream.StreamConfig) (jetstream.StreamConfig, []string) {
	var kept []string
	larger := func(name string, h, w *int64, show func(int64) string) {
		if !unlimited(*w) && (unlimited(*h) || *h > *w) {
			kept = append(kept, fmt.Sprintf("%s %s (jetrun's: %s)", name, limit(*h, show), show(*w)))
			*w = *h
		}
	}
	smaller := func(name string, h, w *int64, show func(int64) string) {
		if !unlimited(*h) && (unlimited(*w) || *h < *w) {
			kept = append(kept, fmt.Sprintf("%s %s (jetrun's: %s)", name, show(*h), limit(*w, show)))
			*w = *h
		}
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	dur := func(v int64) string { return time.Duration(v).String() }
	replicas, hr := int64(want.Replicas), int64(have.Replicas)
	larger("replicas", &hr, &replicas, num)
	want.Replicas = int(replicas)
	age, ha := int64(want.MaxAge), int64(have.MaxAge)
	larger("max_age", &ha, &age, dur)
	want.MaxAge = time.Duration(age)
	hb := have.MaxBytes
	larger("max_bytes", &hb, &want.MaxBytes, num)
	size, hs := int64(want.MaxMsgSize), int64(have.MaxMsgSize)
	larger("max_msg_size", &hs, &size, num)
	want.MaxMsgSize = int32(size)
	if have.Duplicates > want.Duplicates && want.Duplicates > 0 {
		kept = append(kept, fmt.Sprintf("duplicate window %v (jetrun's: %v)", have.Duplicates, want.Duplicates))
		want.Duplicates = have.Duplicates
	}
	cons, hc := int64(want.MaxConsumers), int64(have.MaxConsumers)
	smaller("max_consumers", &hc, &cons, num)
	want.MaxConsumers = int(cons)
	idle, hi := int64(want.ConsumerLimits.InactiveThreshold), int64(have.ConsumerLimits.InactiveThreshold)
	smaller("consumer_limits.inactive_threshold", &hi, &idle, dur)
	want.ConsumerLimits.InactiveThreshold = time.Duration(idle)
	if want.Placement == nil && have.Placement != nil {
		want.Placement = have.Placement
	}
	return want, kept
}

// streamSettingsMatch reports whether have already has every setting want
// sets, and nothing layoutDiffs refuses; fields want leaves zero are the
// server's defaults and not compared.
func streamSettingsMatch(have, want jetstream.StreamConfig) bool {
	eq := func(h, w int64) bool { return w == 0 || h == w }
	return have.Description == want.Description &&
		len(layoutDiffs(have, want)) == 0 &&
		eq(int64(have.MaxAge), int64(want.MaxAge)) &&
		eq(have.MaxBytes, want.MaxBytes) &&
		eq(int64(have.Duplicates), int64(want.Duplicates)) &&
		eq(int64(have.MaxMsgSize), int64(want.MaxMsgSize)) &&
		eq(int64(have.MaxConsumers), int64(want.MaxConsumers)) &&
		eq(int64(have.ConsumerLimits.InactiveThreshold), int64(want.ConsumerLimits.InactiveThreshold)) &&
		eq(int64(have.Replicas), int64(want.Replicas))
}

// layoutDiffs lists, for a person, how stream have falls short of want in
// what jetrun relies on: where messages go (subjects, no republish,
// mirror, sources or subject transform, writable and acknowledged),
// retention and discard policies, direct get where want allows it,
// per-subject limits exactly as want's, other limits at least want's,
// replicas at least want's, and consumer limits at most want's. The
// description and placement are the operator's to choose.
func layoutDiffs(have, want jetstream.StreamConfig) []string {
	var d []string
	add := func(format string, a ...any) { d = append(d, fmt.Sprintf(format, a...)) }
	if !sameSet(have.Subjects, want.Subjects) {
		add("subjects are %q, want %q", have.Subjects, want.Subjects)
	}
	if have.RePublish != nil {
		add("republishes %q to %q, want no republish", have.RePublish.Source, have.RePublish.Destination)
	}
	if have.Mirror != nil {
		add("mirrors stream %q, want no mirror", have.Mirror.Name)
	}
	for _, src := range have.Sources {
		add("sources stream %q, want no sources", src.Name)
	}
	if have.SubjectTransform != nil {
		add("transforms subjects %q to %q, want no transform", have.SubjectTransform.Source, have.SubjectTransform.Destination)
	}
	if have.Sealed {
		add("is sealed, want writable")
	}
	if have.NoAck {
		add("does not acknowledge publishes (no_ack), want acknowledged")
	}
	if have.Retention != want.Retention {
		add("retention is %s, want %s", have.Retention, want.Retention)
	}
	if have.Storage != want.Storage {
		add("storage is %s, want %s", have.Storage, want.Storage)
	}
	if have.Discard != want.Discard {
		add("discard policy is %s, want %s", have.Discard, want.Discard)
	}
	if have.DiscardNewPerSubject != want.DiscardNewPerSubject {
		add("discard_new_per_subject is %v, want %v", have.DiscardNewPerSubject, want.DiscardNewPerSubject)
	}
	if want.AllowDirect && !have.AllowDirect {
		add("allow_direct is off, want on")
	}
	if want.AllowMsgCounter && !have.AllowMsgCounter {
		add("allow_msg_counter is off, want on")
	}
	if unlimited(have.MaxMsgsPerSubject) != unlimited(want.MaxMsgsPerSubject) ||
		!unlimited(want.MaxMsgsPerSubject) && have.MaxMsgsPerSubject != want.MaxMsgsPerSubject {
		add("max_msgs_per_subject is %d, want %d", have.MaxMsgsPerSubject, want.MaxMsgsPerSubject)
	}
	atLeast := func(name string, h, w int64, show func(int64) string) {
		if !unlimited(h) && (unlimited(w) || h < w) {
			add("%s is %s, want %s", name, show(h), limit(w, show))
		}
	}
	num := func(v int64) string { return fmt.Sprint(v) }
	dur := func(v int64) string { return time.Duration(v).String() }
	atLeast("max_msgs", have.MaxMsgs, want.MaxMsgs, num)
	atLeast("max_bytes", have.MaxBytes, want.MaxBytes, num)
	atLeast("max_age", int64(have.MaxAge), int64(want.MaxAge), dur)
	atLeast("max_msg_size", int64(have.MaxMsgSize), int64(want.MaxMsgSize), num)
	if want.Duplicates > 0 && have.Duplicates < want.Duplicates {
		add("duplicate window is %v, want %v", have.Duplicates, want.Duplicates)
	}
	atMost := func(name string, h, w int64, show func(int64) string) {
		if !unlimited(w) && (unlimited(h) || h > w) {
			add("%s is %s, want at most %s", name, limit(h, show), show(w))
		}
	}
	if have.Replicas < want.Replicas {
		add("replicas are %d, want at least %d", have.Replicas, want.Replicas)
	}
	atMost("max_consumers", int64(have.MaxConsumers), int64(want.MaxConsumers), num)
	atMost("consumer_limits.inactive_threshold", int64(have.ConsumerLimits.InactiveThreshold), int64(want.ConsumerLimits.InactiveThreshold), dur)
	return d
}

// unlimited reports whether a stream limit is unset: 0 or -1.
func unlimited(v int64) bool { return v <= 0 }

func limit(v int64, show func(int64) string) string {
	if unlimited(v) {
		return "unlimited"
	}
	return show(v)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func ensureConsumer(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.Consumer, error) {
	name := messages.ConsumerName(c.Queue)
	cons, err := js.CreateOrUpdateConsumer(ctx, messages.TasksStream, jetstream.ConsumerConfig{
		Durable:       name,
		Description:   "jetrun workers of queue " + c.Queue,
		FilterSubject: messages.NewSubjects(c.Prefix).Task(c.Queue),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       c.AckWait,
		// Deliveries are not limited: a delivery that could not reach
		// JetStream, or was handed back, runs nothing. The worker bounds
		// runs instead (JETRUN_RUNS, Config.MaxDeliver).
		MaxDeliver:    -1,
		MaxAckPending: c.MaxAckPending,
		// Replicas 0: the stream's, which JetStream requires of a
		// work-queue consumer.
	})
	if err != nil {
		return nil, fmt.Errorf("ensure consumer %s: %w", name, err)
	}
	return cons, nil
}
