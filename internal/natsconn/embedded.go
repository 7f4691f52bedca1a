package natsconn

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds the wait for an embedded server to accept clients.
const readyTimeout = 10 * time.Second

// ErrStoreInUse is returned by Embedded.Start when another process (or
// another embedded server of this one) holds the store directory.
var ErrStoreInUse = errors.New("store directory in use")

// Embedded is an in-process nats-server with JetStream.
type Embedded struct {
	// Name is the server's name.
	Name string
	// Listen is the host:port clients connect to; port 0 picks a free one.
	Listen string
	// StoreDir holds the JetStream state. One server at a time may use it:
	// Start locks it.
	StoreDir string
	// Logger, when set, is told the server started.
	Logger *slog.Logger
}

// Server is a running embedded server. Shutdown stops it and releases its
// store directory.
type Server struct {
	*server.Server
	unlock func()
	once   sync.Once
}

// Shutdown stops the server, waits for it, and releases the store
// directory. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.once.Do(func() {
		s.Server.Shutdown()
		s.Server.WaitForShutdown()
		s.unlock()
	})
}

// Start starts the server and waits until it accepts clients. A bad Listen
// wraps ErrInvalidConfig; a store directory another server holds gives
// ErrStoreInUse; an address that cannot be bound gives the bind error at
// once.
func (e Embedded) Start() (*Server, error) {
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
	if err := os.MkdirAll(e.StoreDir, 0o700); err != nil {
		return nil, fmt.Errorf("embedded nats server: store directory: %w", err)
	}
	unlock, err := lockDir(e.StoreDir)
	if err != nil {
		return nil, err
	}
	srv, err := server.NewServer(&server.Options{
		ServerName: e.Name,
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   e.StoreDir,
		// Every write is on disk before JetStream acknowledges it: a task
		// stored is not lost, nor a result stored, in an OS crash or a
		// power failure (docs/deployment.md, sync_interval).
		SyncAlways: true,
		NoSigs:     true,
	})
	if err != nil {
		unlock()
		return nil, fmt.Errorf("embedded nats server: %w", err)
	}
	fatal := &fatalLogger{errs: make(chan string, 1)}
	srv.SetLoggerV2(fatal, false, false, false)
	srv.Start()
	s := &Server{Server: srv, unlock: unlock}
	deadline := time.Now().Add(readyTimeout)
	for !srv.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-fatal.errs:
			s.Shutdown()
			return nil, fmt.Errorf("embedded nats server on %s: %s", e.Listen, msg)
		default:
		}
		if time.Now().After(deadline) {
			s.Shutdown()
			return nil, fmt.Errorf("embedded nats server: not ready on %s within %v", e.Listen, readyTimeout)
		}
	}
	if e.Logger != nil {
		e.Logger.Info("embedded nats server started", "url", srv.ClientURL(), "data_dir", e.StoreDir)
	}
	return s, nil
}

// lockDir takes an exclusive lock on dir (a file jetrun.lock in it) for
// this process until the returned func is called.
func lockDir(dir string) (unlock func(), err error) {
	path := filepath.Join(dir, "jetrun.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded nats server: lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s is locked by another server (%v)", ErrStoreInUse, dir, err)
	}
	return func() { f.Close() }, nil
}

// fatalLogger keeps the server's fatal errors (such as a port it cannot
// bind) so Start can report them, and drops the rest: the embedded server
// logs nothing of its own.
type fatalLogger struct{ errs chan string }

func (l *fatalLogger) Fatalf(format string, v ...any) {
	select {
	case l.errs <- strings.TrimSpace(fmt.Sprintf(format, v...)):
	default:
	}
}
func (l *fatalLogger) Noticef(string, ...any) {}
func (l *fatalLogger) Warnf(string, ...any)   {}
func (l *fatalLogger) Errorf(string, ...any)  {}
func (l *fatalLogger) Debugf(string, ...any)  {}
func (l *fatalLogger) Tracef(string, ...any)  {}
