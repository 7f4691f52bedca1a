package main

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/docker"
	"github.com/jetrun/jetrun/worker"
)

// stack is the whole jetrun path in this process: a fresh NATS server, a
// worker on the Docker driver with its own connection, and a client with
// another.
type stack struct {
	id     string
	env    *natsEnv
	ncW    *nats.Conn
	ncC    *nats.Conn
	drv    *docker.Driver
	wk     *runningWorker
	client *client.Client
}

// startStack starts the stack; tune adjusts the worker's configuration.
func (h *harness) startStack(ctx context.Context, id string, concurrency int, tune func(*worker.Config), opts ...client.Option) (*stack, error) {
	s := &stack{id: id}
	ok := false
	defer func() {
		if !ok {
			s.close()
		}
	}()
	env, conns, err := h.startNATSConns("bench-worker", "bench-client")
	if err != nil {
		return nil, err
	}
	s.env, s.ncW, s.ncC = env, conns[0], conns[1]
	cfg := worker.Config{WorkerID: id, Concurrency: concurrency}
	if tune != nil {
		tune(&cfg)
	}
	if s.drv, err = docker.New(driver.Config{}, docker.Options{WorkerID: id, Allow: cfg.Policy.Allow}); err != nil {
		return nil, fmt.Errorf("docker driver: %w", err)
	}
	if s.wk, err = startWorker(ctx, s.ncW, s.drv, cfg); err != nil {
		return nil, err
	}
	if s.client, err = client.New(s.ncC, opts...); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

func (s *stack) close() {
	if s.wk != nil {
		_ = s.wk.stop()
	}
	if s.drv != nil {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = s.drv.RemoveWorkerContainers(cctx, s.id)
		cancel()
		_ = s.drv.Close()
	}
	if s.env != nil { // closes ncW and ncC too
		s.env.close()
	}
}
