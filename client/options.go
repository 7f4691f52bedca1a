package client

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// Defaults applied by New.
const (
	DefaultPublishTimeout     = 5 * time.Second
	DefaultMaxPending         = 1024
	DefaultEventBuffer        = 256
	DefaultResultPollInterval = 5 * time.Second
)

// Option configures a Client.
type Option func(*options)

type options struct {
	prefix         string
	queue          string
	publishTimeout time.Duration
	maxPending     int
	eventBuffer    int
	pollInterval   time.Duration
	logger         *slog.Logger
}

// WithPrefix sets the subject prefix P (default "jetrun"). It must match
// the workers' prefix.
func WithPrefix(prefix string) Option { return func(o *options) { o.prefix = prefix } }

// WithQueue sets the queue tasks are submitted to (default "default"). To
// submit to several queues, make one Client per queue: a Client is cheap.
func WithQueue(queue string) Option { return func(o *options) { o.queue = queue } }

// WithPublishTimeout bounds how long a publish waits for JetStream's
// acknowledgement (default 5s); the caller's context can only shorten it.
func WithPublishTimeout(d time.Duration) Option {
	return func(o *options) { o.publishTimeout = d }
}

// WithMaxPending bounds the asynchronous publishes SubmitAsync keeps in
// flight (default 1024); SubmitAsync blocks while that many are
// unacknowledged.
func WithMaxPending(n int) Option { return func(o *options) { o.maxPending = n } }

// WithEventBuffer sets how many status, log and stat events a Handle holds
// for a reader that has not received them yet (default 256). Events that
// do not fit are dropped and counted (Handle.Dropped); the result never is.
func WithEventBuffer(n int) Option { return func(o *options) { o.eventBuffer = n } }

// WithResultPollInterval sets how often Handle.Result checks JETRUN_EVENTS
// for a result the live subscription may have missed (default 5s). It only
// applies to tasks whose reply prefix lies under P.events.
func WithResultPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}

// WithLogger sets where the client reports what it drops or cannot decode
// (default: nowhere).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

func buildOptions(opts []Option) (options, error) {
	o := options{
		prefix:         messages.DefaultPrefix,
		queue:          messages.DefaultQueue,
		publishTimeout: DefaultPublishTimeout,
		maxPending:     DefaultMaxPending,
		eventBuffer:    DefaultEventBuffer,
		pollInterval:   DefaultResultPollInterval,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if err := messages.ValidPrefix(o.prefix); err != nil {
		return o, fmt.Errorf("%w: %v", ErrInvalidOption, err)
	}
	if err := messages.ValidQueue(o.queue); err != nil {
		return o, fmt.Errorf("%w: %q: %v", ErrInvalidOption, o.queue, err)
	}
	if o.publishTimeout <= 0 {
		return o, fmt.Errorf("%w: publish timeout %v: must be positive", ErrInvalidOption, o.publishTimeout)
	}
	if o.maxPending < 1 {
		return o, fmt.Errorf("%w: max pending %d: must be at least 1", ErrInvalidOption, o.maxPending)
	}
	if o.eventBuffer < 0 {
		return o, fmt.Errorf("%w: event buffer %d: must not be negative", ErrInvalidOption, o.eventBuffer)
	}
	if o.pollInterval <= 0 {
		return o, fmt.Errorf("%w: result poll interval %v: must be positive", ErrInvalidOption, o.pollInterval)
	}
	return o, nil
}
