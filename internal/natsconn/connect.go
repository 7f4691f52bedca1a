package natsconn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Defaults applied by Connect.
const (
	// DefaultDialTimeout bounds dialing one server.
	DefaultDialTimeout = 5 * time.Second
	// DefaultReconnectWait is the pause between reconnect attempts.
	DefaultReconnectWait = time.Second
	// DefaultInboxPrefix is nats.go's own reply subject prefix.
	DefaultInboxPrefix = "_INBOX"
)

// Config is how to reach a NATS server.
type Config struct {
	// URL is one server URL or several, comma separated. Ignored when
	// Server is set.
	URL string
	// Server, when set, is an embedded server connected to in-process.
	Server *Server
	// Name is the connection's name, shown by the server's monitoring.
	Name string
	// Creds is a credentials file (user JWT and nkey seed); NKey an nkey
	// seed file. They are exclusive.
	Creds, NKey string
	// TLSCert and TLSKey are a client certificate; TLSCA verifies the
	// server's.
	TLSCert, TLSKey, TLSCA string
	// InboxPrefix is the prefix of the connection's reply subjects
	// (default DefaultInboxPrefix). Connect checks the server lets the
	// user receive replies there.
	InboxPrefix string
	// DialTimeout bounds dialing (default DefaultDialTimeout).
	DialTimeout time.Duration
	// Logger, when set, receives disconnects, reconnects and asynchronous
	// errors; when nil, nats.go's default prints asynchronous errors on
	// stderr.
	Logger *slog.Logger
	// Flags names the settings in errors.
	Flags Flags
}

// Flags names the settings behind Config in error messages, as the user
// gives them, e.g. "--nats or JETRUN_NATS_URL". Empty names are left out.
type Flags struct {
	URL, Creds, NKey, Inbox string
	// Role is the nats.conf user whose inbox prefix the error suggests:
	// "worker" suggests _INBOX_worker.
	Role string
}

// Options turns cfg's credentials, TLS and inbox prefix into nats.go
// options. Errors wrap ErrInvalidConfig.
func (cfg *Config) Options() ([]nats.Option, error) {
	opts := []nats.Option{nats.CustomInboxPrefix(cfg.inboxPrefix())}
	if err := ValidInboxPrefix(cfg.inboxPrefix()); err != nil {
		return nil, fmt.Errorf("%w: %s %w", ErrInvalidConfig, name(cfg.Flags.Inbox, "inbox prefix"), err)
	}
	if cfg.Creds != "" && cfg.NKey != "" {
		return nil, fmt.Errorf("%w: %s and %s are exclusive", ErrInvalidConfig, name(cfg.Flags.Creds, "creds"), name(cfg.Flags.NKey, "nkey"))
	}
	if cfg.Creds != "" {
		if _, err := os.Stat(cfg.Creds); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name(cfg.Flags.Creds, "creds"), err)
		}
		opts = append(opts, nats.UserCredentials(cfg.Creds))
	}
	if cfg.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(cfg.NKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name(cfg.Flags.NKey, "nkey"), err)
		}
		opts = append(opts, opt)
	}
	if cfg.TLSCA != "" {
		opts = append(opts, nats.RootCAs(cfg.TLSCA))
	}
	if cfg.TLSCert != "" {
		opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
	}
	return opts, nil
}

// ValidInboxPrefix reports why p cannot be an inbox prefix (empty, a
// wildcard, a trailing dot), or nil.
func ValidInboxPrefix(p string) error {
	if err := nats.CustomInboxPrefix(p)(&nats.Options{}); err != nil {
		return fmt.Errorf("%q: want a subject prefix without wildcards or a trailing dot, e.g. _INBOX_worker or _INBOX_submitter", p)
	}
	return nil
}

func (cfg *Config) inboxPrefix() string {
	if cfg.InboxPrefix == "" {
		return DefaultInboxPrefix
	}
	return cfg.InboxPrefix
}

// name returns flag, or what when no flag is named.
func name(flag, what string) string {
	if flag != "" {
		return flag
	}
	return what
}

// Connect dials the server, reconnecting for ever once connected, and
// checks the server lets the connection receive replies under its inbox
// prefix. ctx ending abandons the dial. The caller closes the connection.
//
// Errors: ErrInvalidConfig for settings that cannot work, ErrRepliesRefused
// (with nats.ErrPermissionViolation) for a refused inbox prefix, and
// otherwise the dial's error with the URL redacted and a hint; nats.go's
// authorization errors stay in the chain for errors.Is.
func Connect(ctx context.Context, cfg Config, extra ...nats.Option) (*nats.Conn, error) {
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	url := cfg.URL
	if cfg.Server != nil {
		url = cfg.Server.ClientURL()
		opts = append(opts, nats.InProcessServer(cfg.Server))
	} else if err := checkURLs(url); err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.Name(cfg.Name),
		nats.Timeout(cfg.dialTimeout()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(DefaultReconnectWait),
	)
	if l := cfg.Logger; l != nil {
		opts = append(opts, logged(l)...)
	}
	nc, err := dialCtx(ctx, url, append(opts, extra...))
	if err != nil {
		return nil, cfg.dialError(url, err)
	}
	if err := cfg.checkReplies(ctx, nc); err != nil {
		nc.Close()
		return nil, err
	}
	if cfg.Logger != nil {
		cfg.Logger.Info("connected to nats", "url", nc.ConnectedUrlRedacted())
	}
	return nc, nil
}

// dialCtx is nats.Connect, abandoned when ctx ends; a connection made
// after that is closed.
func dialCtx(ctx context.Context, url string, opts []nats.Option) (*nats.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	type dialed struct {
		nc  *nats.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		nc, err := nats.Connect(url, opts...)
		ch <- dialed{nc, err}
	}()
	select {
	case d := <-ch:
		return d.nc, d.err
	case <-ctx.Done():
		go func() {
			if d := <-ch; d.nc != nil {
				d.nc.Close()
			}
		}()
		return nil, context.Cause(ctx)
	}
}

func (cfg *Config) dialError(url string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("connect to %s: %w", Redact(url), err)
	}
	hint := "is nats-server, or a worker with its embedded server, running there?"
	if cfg.Flags.URL != "" {
		hint += " set " + cfg.Flags.URL
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
		hint = "check the credentials"
		if cfg.Flags.Creds != "" {
			hint = "check " + cfg.Flags.Creds
		}
	}
	return fmt.Errorf("cannot reach NATS at %s: %w (%s)", Redact(url), err, hint)
}

// checkReplies proves the server lets nc receive replies under its inbox
// prefix: a user whose permissions allow another prefix (nats.conf gives
// each role its own) would otherwise only see every request time out.
func (cfg *Config) checkReplies(ctx context.Context, nc *nats.Conn) error {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("subscribe to a reply inbox: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server answers the flush after it has refused the subscription,
	// so a refusal is known when the flush returns.
	fctx, cancel := context.WithTimeout(ctx, cfg.dialTimeout())
	defer cancel()
	if err := nc.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("nats at %s: %w", nc.ConnectedUrlRedacted(), err)
	}
	err = nc.LastError()
	if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), inbox) {
		return nil
	}
	what := "set the inbox prefix"
	if cfg.Flags.Inbox != "" {
		what = "set " + cfg.Flags.Inbox
	}
	role := ""
	if cfg.Flags.Role != "" {
		role = fmt.Sprintf(" (%s_%s with nats.conf)", DefaultInboxPrefix, cfg.Flags.Role)
	}
	return fmt.Errorf("nats refuses this user replies under %s.>: %s to the prefix its permissions allow%s: %w: %w",
		cfg.inboxPrefix(), what, role, ErrRepliesRefused, err)
}

func (cfg *Config) dialTimeout() time.Duration {
	if cfg.DialTimeout > 0 {
		return cfg.DialTimeout
	}
	return DefaultDialTimeout
}

// logged returns options that log connection changes to l.
func logged(l *slog.Logger) []nats.Option {
	return []nats.Option{
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				l.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			l.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			l.Warn("nats async error", "subject", subject, "err", err)
		}),
	}
}
