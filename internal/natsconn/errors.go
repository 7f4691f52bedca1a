package natsconn

import "errors"

var (
	// ErrInvalidConfig is wrapped by every error about a setting that
	// cannot work whatever the server says: exclusive options together, an
	// unreadable nkey seed, a server URL that does not parse, a bad listen
	// address. Binaries report it as a usage error.
	ErrInvalidConfig = errors.New("invalid nats setting")

	// ErrRepliesRefused is wrapped by Connect's error when the server
	// refuses this user subscriptions under its inbox prefix, so every
	// request (JetStream API calls, publish acks) would time out.
	ErrRepliesRefused = errors.New("replies refused under the inbox prefix")
)
