package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/worker"
)

// run is the whole worker: it returns when ctx is cancelled and draining is
// done, or on a startup error. Cancelling abort as well (a second signal)
// ends the drain at once: running tasks are handed back, their containers
// removed.
func run(ctx, abort context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger, err := newLogger(o, stderr)
	if err != nil {
		return usageError{err}
	}

	drv, err := docker.New(o.runtime, docker.Options{WorkerID: o.cfg.WorkerID, Logger: logger, Allow: o.cfg.Policy.Allow})
	if err != nil {
		return fmt.Errorf("docker driver: %w", err)
	}
	defer drv.Close()
	{
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		n, err := drv.RemoveWorkerContainers(cctx, o.cfg.WorkerID)
		cancel()
		if err != nil {
			return fmt.Errorf("remove containers left by an earlier run of worker %q: %w", o.cfg.WorkerID, err)
		}
		if n > 0 {
			logger.Warn("removed containers left by an earlier run", "count", n)
		}
	}

	var opts []nats.Option
	url := o.natsURL
	if url == "" {
		srv, err := startEmbedded(o, logger)
		if err != nil {
			return err
		}
		defer func() {
			srv.Shutdown()
			srv.WaitForShutdown()
		}()
		opts = append(opts, nats.InProcessServer(srv))
		url = srv.ClientURL()
		fmt.Fprintf(stdout, "embedded NATS server with JetStream listening on %s (state in %s)\n", srv.ClientURL(), o.dataDir)
	} else if opts, err = connectOptions(o); err != nil {
		return usageError{err}
	}
	nc, err := connect(ctx, url, o.cfg.WorkerID, logger, opts)
	if err != nil {
		return err
	}
	defer nc.Close()
	if o.natsURL != "" {
		if err := checkReplies(nc, o.inboxPrefix); err != nil {
			return err
		}
	}

	w, err := worker.New(nc, drv, o.cfg, logger)
	if err != nil {
		return err
	}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(o.metricsAddr, w.Handler(), logger, stdout)
		if err != nil {
			return err
		}
		defer stop()
	}
	stopAbort := context.AfterFunc(abort, w.Interrupt)
	defer stopAbort()
	if err := w.Run(ctx); err != nil {
		return err
	}
	closeNATS(nc, abort, logger)
	return nil
}

// closeNATS closes nc cleanly: everything published is flushed to the
// server, within 10 seconds, or 2 once abort is cancelled.
func closeNATS(nc *nats.Conn, abort context.Context, logger *slog.Logger) {
	within := 10 * time.Second
	if abort.Err() != nil {
		within = 2 * time.Second
	}
	closed := make(chan struct{})
	nc.SetClosedHandler(func(*nats.Conn) { close(closed) })
	if err := nc.Drain(); err != nil {
		logger.Warn("drain nats connection", "err", err)
		nc.Close()
		return
	}
	select {
	case <-closed:
	case <-time.After(within):
		logger.Warn("nats connection did not drain in time; closing it", "within", within)
		nc.Close()
	}
}

func newLogger(o *options, w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", o.logLevel, err)
	}
	hopts := &slog.HandlerOptions{Level: level}
	if o.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return slog.New(slog.NewTextHandler(w, hopts)), nil
}

// startEmbedded starts a JetStream nats-server in this process.
func startEmbedded(o *options, logger *slog.Logger) (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(o.embeddedListen)
	if err != nil {
		return nil, usageError{fmt.Errorf("--embedded-listen %q: %w", o.embeddedListen, err)}
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, usageError{fmt.Errorf("--embedded-listen %q: bad port", o.embeddedListen)}
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: "jetrun-" + o.cfg.WorkerID,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   o.dataDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats server: not ready on %s within 10s (is the port taken?)", o.embeddedListen)
	}
	logger.Info("embedded nats server started", "url", srv.ClientURL(), "data_dir", o.dataDir)
	return srv, nil
}

// connectOptions turns the inbox prefix, credential and TLS flags into NATS
// options for an external server.
func connectOptions(o *options) ([]nats.Option, error) {
	opts := []nats.Option{nats.CustomInboxPrefix(o.inboxPrefix)}
	if o.creds != "" && o.nkey != "" {
		return nil, errors.New("--creds and --nkey are exclusive")
	}
	if o.creds != "" {
		opts = append(opts, nats.UserCredentials(o.creds))
	}
	if o.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(o.nkey)
		if err != nil {
			return nil, fmt.Errorf("--nkey: %w", err)
		}
		opts = append(opts, opt)
	}
	if o.tlsCA != "" {
		opts = append(opts, nats.RootCAs(o.tlsCA))
	}
	if o.tlsCert != "" {
		opts = append(opts, nats.ClientCert(o.tlsCert, o.tlsKey))
	}
	return opts, nil
}

// connect dials NATS, reconnecting for ever once connected, and logs
// connection changes.
func connect(ctx context.Context, url, id string, logger *slog.Logger, extra []nats.Option) (*nats.Conn, error) {
	opts := append([]nats.Option{
		nats.Name("jetrun-worker " + id),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			logger.Warn("nats async error", "subject", subject, "err", err)
		}),
	}, extra...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to nats %s: %w", redact(url), err)
	}
	if ctx.Err() != nil {
		nc.Close()
		return nil, context.Cause(ctx)
	}
	logger.Info("connected to nats", "url", nc.ConnectedUrlRedacted())
	return nc, nil
}

// checkReplies proves the server lets nc receive replies under prefix: a
// user whose permissions allow another inbox prefix (nats.conf gives each
// role its own) would otherwise only see every JetStream call time out.
func checkReplies(nc *nats.Conn, prefix string) error {
	inbox := nc.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("subscribe to a reply inbox: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// The server answers the flush after it has refused the subscription,
	// so a refusal is known when the flush returns.
	if err := nc.FlushTimeout(10 * time.Second); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	if err := nc.LastError(); errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), inbox) {
		return fmt.Errorf("nats refuses this user replies under %s.>: set --inbox-prefix (%s) to the prefix its permissions allow, _INBOX_worker with nats.conf: %w",
			prefix, envName("inbox-prefix"), err)
	}
	return nil
}

// redact hides passwords in URLs for error messages.
func redact(url string) string {
	var out []string
	for _, u := range strings.Split(url, ",") {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
				u = u[:scheme+3] + "***" + u[at:]
			}
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// serveMetrics serves h on addr until the returned func is called.
func serveMetrics(addr string, h http.Handler, logger *slog.Logger, stdout io.Writer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server", "err", err)
		}
	}()
	fmt.Fprintf(stdout, "metrics, health and readiness on http://%s/metrics /healthz /readyz\n", ln.Addr())
	logger.Info("metrics server listening", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
