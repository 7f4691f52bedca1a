package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry returns the worker's own Prometheus registry (never the global
// one), holding the jetrun_* series and Go and process collectors.
func (w *Worker) Registry() *prometheus.Registry { return w.m.reg }

// Ready reports why the worker cannot take tasks, or nil: NATS must be
// connected, the consumer bound and the driver alive.
func (w *Worker) Ready(ctx context.Context) error {
	switch {
	case !w.nc.IsConnected():
		return errors.New("nats: not connected (" + w.nc.Status().String() + ")")
	case !w.bound.Load():
		if err := w.bindErr.Load(); err != nil {
			return fmt.Errorf("streams and consumer not bound: %w", *err)
		}
		return errors.New("streams and consumer not bound")
	case !w.drv.IsAlive(ctx):
		return errors.New("driver: runtime not answering")
	}
	return nil
}

// Handler serves /metrics (Prometheus), /healthz (the process answers) and
// /readyz (200 when Ready, else 503 with the reason).
func (w *Worker) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(w.m.reg, promhttp.HandlerOpts{Registry: w.m.reg}))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		_, _ = rw.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := w.Ready(ctx); err != nil {
			http.Error(rw, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ready\n"))
	})
	return mux
}
