package dashboard_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
	"github.com/jetrun/jetrun/worker/workertest"
)

// env is a real jetrun: an in-process NATS server, a worker running
// containers through the real Docker driver, a client, and a dashboard
// served on loopback.
type env struct {
	t     *testing.T
	srv   *server.Server
	c     *client.Client
	image string
	url   string // the dashboard's base URL
	dash  *dashboard.Server
}

// newEnv starts NATS and a Docker worker, and serves a dashboard with cfg
// (its PollInterval short unless set).
func newEnv(t *testing.T, dcfg dashboard.Config) *env {
	t.Helper()
	image := testimage.Ensure(t)
	e := &env{t: t, srv: natstest.Start(t), image: image}
	nc := natstest.Connect(t, e.srv)
	var err error
	if e.c, err = client.New(nc); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.EnsureStreams(t.Context(), js, messages.DefaultPrefix); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	drv, err := docker.New(driver.Config{}, docker.Options{WorkerID: "dash-worker", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drv.Close() })
	cfg := worker.Config{
		WorkerID:     "dash-worker",
		Concurrency:  4,
		AckWait:      10 * time.Second,
		PullWait:     200 * time.Millisecond,
		DrainTimeout: 5 * time.Second,
		StatInterval: 200 * time.Millisecond,
	}
	// The worker holds its id's lease, as cmd/worker does: that is what
	// the dashboard lists as live workers.
	lease, err := worker.AcquireLease(t.Context(), js, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lease.Release)
	w, err := worker.New(natstest.Connect(t, e.srv), drv, cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	lease.Report(w.Running)
	workertest.Run(t, w)
	e.serve(dcfg)
	return e
}

// serve (re)starts the dashboard with cfg on an httptest server.
func (e *env) serve(cfg dashboard.Config) {
	e.t.Helper()
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 100 * time.Millisecond
	}
	cfg.Logger = slog.New(slog.NewTextHandler(tWriter{e.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := dashboard.New(cfg, e.c)
	if err != nil {
		e.t.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(d.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	ts.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	ts.Start()
	e.t.Cleanup(func() { cancel(); ts.Close() })
	e.url, e.dash = ts.URL, d
}

// submit publishes a task running the testee steps.
func (e *env) submit(id string, steps ...string) {
	e.t.Helper()
	h, err := e.c.Submit(e.t.Context(), &messages.Task{ID: id, Image: e.image, Cmd: steps})
	if err != nil {
		e.t.Fatalf("submit %s: %v", id, err)
	}
	_ = h.Close()
}

// result waits for the stored result of id.
func (e *env) result(id string, within time.Duration) *messages.Result {
	e.t.Helper()
	var res *messages.Result
	natstest.Eventually(e.t, within, func() bool {
		st, err := e.c.Status(e.t.Context(), id)
		res = st.Result
		return err == nil && res != nil
	}, "no result for task %s", id)
	return res
}

// get fetches path with the request mutated by mod, returning status and
// body.
func (e *env) get(path string, mod func(*http.Request)) (int, string, http.Header) {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.url+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}
