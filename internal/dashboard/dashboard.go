// Package dashboard is jetrun's web dashboard, served by `submit
// dashboard`: an overview of the queues and live workers, one task's
// status, output, samples and result, with Cancel (and, with the task
// inventory, the task list and dead letters).
//
// Everything it shows is read from JetStream through a Backend (a
// *client.Client) when a page or a live update is rendered; it keeps no
// state of its own in memory (only the per-minute chart counts are reused
// for ten seconds). Pages are rendered on the server with
// html/template, so every value that comes from a task (ids, labels,
// output, errors) is escaped, and they are readable with JavaScript off.
// Live updates are Server-Sent Events carrying HTML fragments that the
// vendored htmx and its SSE extension swap in; the server polls JetStream
// only while such a stream is open, and a bounded number of them at once.
//
// Safe by default: it listens on loopback, where it accepts only loopback
// Host headers (no DNS rebinding); on any other address it refuses to start
// without a token, which every request must then carry (Bearer or the
// password of basic auth). Actions are POSTs checked by
// http.CrossOriginProtection and a CSRF token; Config.ReadOnly removes
// them. A strict Content-Security-Policy allows no inline script or style.
package dashboard

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults applied by Config.WithDefaults.
const (
	DefaultListen       = "127.0.0.1:8080"
	DefaultPollInterval = time.Second
	DefaultMaxStreams   = 64
	DefaultLogTail      = 500
)

// Config configures a Server.
type Config struct {
	// Listen is the address served, host:port (DefaultListen). A host
	// that is not a loopback address needs Token.
	Listen string
	// Token, when set, is required on every request: "Authorization:
	// Bearer TOKEN", or basic auth with TOKEN as the password.
	Token string
	// ReadOnly removes every action (cancel, retry, purge).
	ReadOnly bool
	// PollInterval is how often an open live stream reads JetStream for
	// changes (DefaultPollInterval).
	PollInterval time.Duration
	// MaxStreams bounds the live (SSE) streams open at once; more are
	// answered 503 and the browser retries (DefaultMaxStreams).
	MaxStreams int
	// LogTail is how many output chunks a task page shows and a live
	// stream holds for its client; beyond it the oldest are dropped and
	// the page says how many (DefaultLogTail).
	LogTail int
	// Logger receives request errors (default: nowhere).
	Logger *slog.Logger
}

// WithDefaults returns c with every unset field at its default.
func (c Config) WithDefaults() Config {
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.MaxStreams <= 0 {
		c.MaxStreams = DefaultMaxStreams
	}
	if c.LogTail <= 0 {
		c.LogTail = DefaultLogTail
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports a configuration the dashboard refuses: an address it
// cannot parse, or one off loopback without a token.
func (c Config) Validate() error {
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("%w: listen address %q: %v", ErrConfig, c.Listen, err)
	}
	if c.Token == "" && !IsLoopback(host) {
		return fmt.Errorf("%w: %w: %q", ErrConfig, ErrNeedToken, c.Listen)
	}
	return nil
}

// IsLoopback reports whether host (no port) names only the local machine:
// "localhost" or a loopback IP. An empty host (every interface) is not.
func IsLoopback(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server serves the dashboard. Make it with New and serve Handler, or
// call Serve.
type Server struct {
	cfg     Config
	b       Backend
	tmpl    *template.Template
	csrfKey []byte
	streams chan struct{} // one slot per open live stream
	handler http.Handler

	chartMu sync.Mutex
	charts  map[string]finishedCounts // by queue
}

// New returns a Server showing what b reads. It starts nothing.
func New(cfg Config, b Backend) (*Server, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: no backend", ErrConfig)
	}
	t, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	s := &Server{cfg: cfg, b: b, tmpl: t, csrfKey: make([]byte, 32), streams: make(chan struct{}, cfg.MaxStreams),
		charts: map[string]finishedCounts{}}
	if _, err := rand.Read(s.csrfKey); err != nil {
		return nil, fmt.Errorf("dashboard csrf key: %w", err)
	}
	s.handler = s.routes()
	return s, nil
}

// Handler returns the dashboard's HTTP handler, with its security checks.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves the dashboard on l until ctx ends, then shuts down,
// closing the live streams.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelWarn),
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(l) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-done; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

// static returns the embedded assets.
func static() fs.FS {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return sub
}
