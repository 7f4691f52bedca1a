package natsconn

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds the wait for an embedded server to accept clients.
const readyTimeout = 10 * time.Second

// Embedded is an in-process nats-server with JetStream.
type Embedded struct {
	// Name is the server's name.
	Name string
	// Listen is the host:port clients connect to; port 0 picks a free one.
	Listen string
	// StoreDir holds the JetStream state.
	StoreDir string
	// Logger, when set, is told the server started.
	Logger *slog.Logger
}

// Start starts the server and waits until it accepts clients. The caller
// stops it with Shutdown and WaitForShutdown. A bad Listen wraps
// ErrInvalidConfig.
func (e Embedded) Start() (*server.Server, error) {
	host, portStr, err := net.SplitHostPort(e.Listen)
	if err != nil {
		return nil, fmt.Errorf("%w: listen address %q: %w", ErrInvalidConfig, e.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("%w: listen address %q: bad port", ErrInvalidConfig, e.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: e.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   e.StoreDir,
		NoSigs:     true,
		NoLog:      true,
	})
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("embedded nats server: not ready on %s within %v (is the port taken?)", e.Listen, readyTimeout)
	}
	if e.Logger != nil {
		e.Logger.Info("embedded nats server started", "url", srv.ClientURL(), "data_dir", e.StoreDir)
	}
	return srv, nil
}
