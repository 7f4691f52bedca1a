package worker

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// Config configures a Worker. The zero value is not ready: call
// WithDefaults, which New does for you.
type Config struct {
	// Prefix is the subject prefix P. Default "jetrun".
	Prefix string
	// Queue is the queue this worker consumes, P.tasks.<queue>. Default
	// "default".
	Queue string
	// WorkerID names this worker in events and container labels. Required
	// (cmd/worker defaults it to the host name).
	WorkerID string
	// Concurrency is the most tasks this worker runs, and holds unacked,
	// at once. Default 1.
	Concurrency int
	// AckWait is the consumer's lease on a delivered task; the worker
	// heartbeats at HeartbeatInterval to keep it. Default 30s.
	AckWait time.Duration
	// MaxDeliver is how many times a task is run at most, counted in
	// JETRUN_RUNS: a run is a delivery that got as far as preparing its
	// container. The last run always ends in a Result; a task whose last
	// run was lost with its worker gets an error Result from the next
	// delivery, without running. Deliveries that ran nothing (JetStream
	// could not be reached, the worker stopped first) are not counted, and
	// the consumer does not limit deliveries. Default 5.
	MaxDeliver int
	// MaxAckPending bounds the unacked tasks of the whole fleet on the
	// consumer. Default 10000.
	MaxAckPending int
	// DrainTimeout is how long Run waits for running tasks after its
	// context ends before cancelling them and handing them back. Default
	// 30s.
	DrainTimeout time.Duration
	// Policy is what the worker admits: allow-lists, maxima and defaults of
	// memory, CPUs and timeout. Its WithDefaults is applied.
	Policy Policy

	// HeartbeatInterval is how often a held task's lease is extended.
	// Default AckWait/4.
	HeartbeatInterval time.Duration
	// PullWait is how long one fetch waits for tasks; it bounds how long
	// stopping takes while idle. Default 2s.
	PullWait time.Duration

	// LogChunkSize is the most bytes in one Log event. Default 64 KiB.
	LogChunkSize int
	// LogFlushInterval is the longest output waits before it is
	// published. Default 100ms.
	LogFlushInterval time.Duration
	// LogCap is the most output bytes published per task attempt; the rest
	// is counted in the Result's log_dropped. Default 10 MiB.
	LogCap int64
	// StatInterval is the least time between two Stat events of a task.
	// Default 1s.
	StatInterval time.Duration

	// PrepareInitialInterval, PrepareMaxInterval and PrepareMaxElapsed
	// bound the exponential, jittered retries of a transient Prepare
	// error within one delivery. A task whose image is still unavailable
	// from its registry after PrepareMaxElapsed fails (an error Result);
	// other transient errors hand it back. Defaults 500ms, 5s, 30s.
	PrepareInitialInterval time.Duration
	PrepareMaxInterval     time.Duration
	PrepareMaxElapsed      time.Duration
	// NakBaseDelay is the redelivery delay after a delivery whose Prepare
	// kept failing transiently; it doubles with each delivery up to
	// NakMaxDelay. Defaults 5s and 5m.
	NakBaseDelay time.Duration
	NakMaxDelay  time.Duration

	// NATSTryTimeout bounds one try of a request to JetStream on a task's
	// way (looking up its result, runs and cancel, recording a run,
	// storing and publishing its result, acking it). A failed try is
	// retried with backoff from NATSRetryInitial to NATSRetryMax, for as
	// long as the outage lasts, until the worker stops. Defaults 5s,
	// 100ms, 2s.
	NATSTryTimeout   time.Duration
	NATSRetryInitial time.Duration
	NATSRetryMax     time.Duration

	// LeaseTTL is how long the worker's entry in messages.WorkersBucket
	// outlives its last refresh (see AcquireLease); it is refreshed every
	// LeaseTTL/3. It is the bucket's TTL, set where the bucket is
	// provisioned. Default messages.WorkerLeaseTTL.
	LeaseTTL time.Duration

	// Streams sizes the JetStream streams the worker provisions.
	Streams StreamConfig
	// VerifyStreams makes Run check that the streams are provisioned
	// (Provision, `worker --provision`) with settings safe for Streams,
	// instead of creating or updating them: a worker then needs no right
	// to change streams. A missing or unsafe stream stops Run with an
	// error wrapping ErrLayout. The worker still creates or updates its
	// queue's durable consumer. Default false: Run provisions the streams
	// itself (the embedded server).
	VerifyStreams bool
}

// StreamConfig sizes the streams Provision creates or updates.
type StreamConfig struct {
	// Duplicates is the dedupe window of JETRUN_TASKS (by task id),
	// JETRUN_EVENTS and JETRUN_RESULTS (by "<id>.result"). Default 10m.
	Duplicates time.Duration
	// MaxTaskSize is the largest task message accepted. Default 1 MiB.
	MaxTaskSize int32
	// EventsMaxAge is how long events are kept. Default 24h.
	EventsMaxAge time.Duration
	// EventsMaxBytes bounds the events stream; the oldest go first.
	// Default 1 GiB.
	EventsMaxBytes int64
	// EventsMaxConsumers is the most consumers JETRUN_EVENTS may have
	// (readers replaying events), below the account's limit so that they
	// never take the workers' consumers. Default 500.
	EventsMaxConsumers int
	// EventsConsumerIdle is how long a consumer on JETRUN_EVENTS, durable
	// or not, may go without a reader before the server deletes it; a
	// consumer asking for longer is refused. At least nats.go's ordered
	// consumers' 5m. Default 5m.
	EventsConsumerIdle time.Duration
	// ResultsMaxAge is how long JETRUN_RESULTS keeps a task's result, and
	// so how long its id stays done: a task with that id published again
	// within it is not run again. Default 7 days (168h).
	ResultsMaxAge time.Duration
	// ResultsMaxBytes bounds JETRUN_RESULTS. It is full, and refuses new
	// results, when more results than fit arrive within ResultsMaxAge.
	// Default 1 GiB.
	ResultsMaxBytes int64
	// CancelsMaxAge is how long a cancel is remembered. Default 24h.
	CancelsMaxAge time.Duration
	// RunsMaxAge is how long JETRUN_RUNS keeps a task's run count; a task
	// still queued after it counts its runs from 0 again. Default 7 days.
	RunsMaxAge time.Duration
	// RunsMaxBytes bounds JETRUN_RUNS; the oldest records go first.
	// Default 64 MiB.
	RunsMaxBytes int64
	// IndexMaxAge is how long JETRUN_INDEX lists a finished task. Default
	// 7 days, like results.
	IndexMaxAge time.Duration
	// IndexMaxBytes bounds JETRUN_INDEX; the oldest records go first.
	// Default 256 MiB (a record is about 300 bytes plus its spec).
	IndexMaxBytes int64
	// DeadMaxAge is how long JETRUN_DEAD keeps a dead letter. Default 7
	// days.
	DeadMaxAge time.Duration
	// DeadMaxBytes bounds JETRUN_DEAD; the oldest dead letters go first,
	// counted by jetrun_dead_letters_dropped_total. Default 128 MiB.
	DeadMaxBytes int64
	// ArtifactsTTL is how long an object of messages.ArtifactsBucket is
	// kept after it was written. Default 7 days (168h).
	ArtifactsTTL time.Duration
	// ArtifactsMaxBytes bounds messages.ArtifactsBucket; when it is full,
	// uploads are refused. Default 1 GiB.
	ArtifactsMaxBytes int64
	// Replicas is the replication factor of all the streams (at most 5;
	// more than 1 needs a JetStream cluster). A verifying worker accepts
	// streams with at least as many. Default 1.
	Replicas int
}

// Defaults applied by WithDefaults.
const (
	DefaultConcurrency   = 1
	DefaultAckWait       = 30 * time.Second
	DefaultMaxDeliver    = 5
	DefaultMaxAckPending = 10000
	DefaultDrainTimeout  = 30 * time.Second
	DefaultLogChunkSize  = 64 << 10
	DefaultLogCap        = 10 << 20
	DefaultPrepareRetry  = 30 * time.Second
)

// WithDefaults returns a copy of c with zero fields set to their defaults.
func (c Config) WithDefaults() Config {
	orDefault(&c.Prefix, messages.DefaultPrefix)
	orDefault(&c.Queue, messages.DefaultQueue)
	orDefault(&c.Concurrency, DefaultConcurrency)
	orDefault(&c.AckWait, DefaultAckWait)
	orDefault(&c.MaxDeliver, DefaultMaxDeliver)
	orDefault(&c.MaxAckPending, DefaultMaxAckPending)
	orDefault(&c.DrainTimeout, DefaultDrainTimeout)
	c.Policy = c.Policy.WithDefaults()
	orDefault(&c.HeartbeatInterval, c.AckWait/4)
	orDefault(&c.PullWait, 2*time.Second)
	orDefault(&c.LogChunkSize, DefaultLogChunkSize)
	orDefault(&c.LogFlushInterval, 100*time.Millisecond)
	orDefault(&c.LogCap, DefaultLogCap)
	orDefault(&c.StatInterval, time.Second)
	orDefault(&c.PrepareInitialInterval, 500*time.Millisecond)
	orDefault(&c.PrepareMaxInterval, 5*time.Second)
	orDefault(&c.PrepareMaxElapsed, DefaultPrepareRetry)
	orDefault(&c.NakBaseDelay, 5*time.Second)
	orDefault(&c.NakMaxDelay, 5*time.Minute)
	orDefault(&c.LeaseTTL, messages.WorkerLeaseTTL)
	orDefault(&c.NATSTryTimeout, 5*time.Second)
	orDefault(&c.NATSRetryInitial, 100*time.Millisecond)
	orDefault(&c.NATSRetryMax, 2*time.Second)
	c.Streams = c.Streams.withDefaults()
	return c
}

func (s StreamConfig) withDefaults() StreamConfig {
	orDefault(&s.Duplicates, 10*time.Minute)
	orDefault(&s.MaxTaskSize, 1<<20)
	orDefault(&s.EventsMaxAge, 24*time.Hour)
	orDefault(&s.EventsMaxBytes, 1<<30)
	orDefault(&s.EventsMaxConsumers, 500)
	orDefault(&s.EventsConsumerIdle, 5*time.Minute)
	orDefault(&s.ResultsMaxAge, 7*24*time.Hour)
	orDefault(&s.ResultsMaxBytes, 1<<30)
	orDefault(&s.CancelsMaxAge, 24*time.Hour)
	orDefault(&s.RunsMaxAge, 7*24*time.Hour)
	orDefault(&s.RunsMaxBytes, 64<<20)
	orDefault(&s.IndexMaxAge, 7*24*time.Hour)
	orDefault(&s.IndexMaxBytes, 256<<20)
	orDefault(&s.DeadMaxAge, 7*24*time.Hour)
	orDefault(&s.DeadMaxBytes, 128<<20)
	orDefault(&s.ArtifactsTTL, 7*24*time.Hour)
	orDefault(&s.ArtifactsMaxBytes, 1<<30)
	orDefault(&s.Replicas, 1)
	return s
}

// orDefault sets *v to d when it is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// validate reports the first setting that cannot work.
func (c Config) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, a...)...)
	}
	switch {
	case c.WorkerID == "":
		return bad("worker id is required")
	case c.Concurrency < 1:
		return bad("concurrency %d must be at least 1", c.Concurrency)
	case c.AckWait < 100*time.Millisecond:
		return bad("ack wait %v is below 100ms", c.AckWait)
	case c.HeartbeatInterval >= c.AckWait:
		return bad("heartbeat interval %v must be below ack wait %v", c.HeartbeatInterval, c.AckWait)
	case c.MaxDeliver < 1:
		return bad("max deliver %d must be at least 1", c.MaxDeliver)
	case c.MaxAckPending < c.Concurrency:
		return bad("max ack pending %d is below concurrency %d", c.MaxAckPending, c.Concurrency)
	case c.DrainTimeout < 0:
		return bad("drain timeout %v is negative", c.DrainTimeout)
	case c.LogChunkSize < 1 || c.LogChunkSize > 1<<20:
		return bad("log chunk size %d must be within 1 B and 1 MiB", c.LogChunkSize)
	case c.LogCap < 0:
		return bad("log cap %d is negative", c.LogCap)
	case c.Streams.Replicas < 1 || c.Streams.Replicas > 5:
		return bad("replicas %d must be within 1 and 5", c.Streams.Replicas)
	}
	if err := messages.ValidPrefix(c.Prefix); err != nil {
		return bad("%v", err)
	}
	if err := messages.ValidQueue(c.Queue); err != nil {
		return bad("%v", err)
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: policy: %w", ErrInvalidConfig, err)
	}
	return nil
}
