package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/internal/natsconn"
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

	cfg := natsconn.Config{
		URL: o.natsURL, Name: "jetrun-worker " + o.cfg.WorkerID, Logger: logger,
		Creds: o.creds, NKey: o.nkey, TLSCert: o.tlsCert, TLSKey: o.tlsKey, TLSCA: o.tlsCA,
		InboxPrefix: o.inboxPrefix,
		Flags: natsconn.Flags{
			URL: "--nats or " + envName("nats"), Creds: "--creds", NKey: "--nkey",
			Inbox: "--inbox-prefix or " + envName("inbox-prefix"), Role: "worker",
		},
	}
	if o.provision {
		return provision(ctx, cfg, o, stdout, logger)
	}
	// An external server's streams are provisioned by an operator
	// (--provision): the worker only checks them.
	o.cfg.VerifyStreams = o.natsURL != ""

	drv, err := docker.New(o.runtime, docker.Options{WorkerID: o.cfg.WorkerID, Logger: logger, Allow: o.cfg.Policy.Allow})
	if err != nil {
		return fmt.Errorf("docker driver: %w", err)
	}
	defer drv.Close()

	if o.natsURL == "" {
		srv, err := natsconn.Embedded{Name: "jetrun-" + o.cfg.WorkerID, Listen: o.embeddedListen, StoreDir: o.dataDir, Logger: logger}.Start()
		switch {
		case errors.Is(err, natsconn.ErrInvalidConfig):
			return usageError{fmt.Errorf("--embedded-listen: %w", err)}
		case errors.Is(err, natsconn.ErrStoreInUse):
			return fmt.Errorf("%w: another worker's embedded server uses this --data-dir; give each worker its own (--data-dir or %s)", err, envName("data-dir"))
		case err != nil:
			return fmt.Errorf("%w (choose another address with --embedded-listen, or port 0 for any free one)", err)
		}
		defer srv.Shutdown()
		cfg = natsconn.Config{Server: srv, Name: cfg.Name, Logger: logger}
		fmt.Fprintf(stdout, "embedded NATS server with JetStream listening on %s (state in %s)\n", srv.ClientURL(), o.dataDir)
	}
	nc, err := natsconn.Connect(ctx, cfg)
	if errors.Is(err, natsconn.ErrInvalidConfig) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	defer nc.Close()

	// The worker id is this process's before anything is done in its name:
	// a second worker with the id would remove this one's containers.
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	lease, err := worker.AcquireLease(ctx, js, o.cfg, logger)
	switch {
	case ctx.Err() != nil:
		return nil // stopped while waiting for the id
	case err != nil:
		return err
	}
	defer lease.Release()
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

	w, err := worker.New(nc, drv, o.cfg, logger)
	if err != nil {
		return err
	}
	lease.Report(w.Running)
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
	lease.Release()
	closeNATS(nc, abort, logger)
	return nil
}

// provision creates or updates the streams on the server of cfg and
// returns: the provisioning step, run with rights to change streams.
func provision(ctx context.Context, cfg natsconn.Config, o *options, stdout io.Writer, logger *slog.Logger) error {
	cfg.Flags.Role = "" // the admin user, whose replies may go anywhere
	nc, err := natsconn.Connect(ctx, cfg)
	if errors.Is(err, natsconn.ErrInvalidConfig) {
		return usageError{err}
	}
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := worker.Provision(pctx, js, o.cfg, logger); err != nil {
		return fmt.Errorf("provision: %w (provisioning needs the rights to create and update streams: the admin user of nats.conf)", err)
	}
	fmt.Fprintf(stdout, "provisioned streams %s for prefix %q\n", strings.Join(worker.StreamNames(), ", "), o.cfg.Prefix)
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
