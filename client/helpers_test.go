package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/nats-io/nats.go/jetstream.(*jetStream).resetPendingAcksOnReconnect"))
}

// env is one test's server, connection and client.
type env struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
	c   *client.Client
}

func newEnv(t *testing.T, opts ...client.Option) *env {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(nc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, nc: nc, js: js, c: c}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// task is a task for the fake driver running the testee steps args.
func task(id string, args ...string) *messages.Task {
	return &messages.Task{ID: id, Image: "jetrun-testee", Cmd: args}
}

// submit submits t and closes its handle when the test ends.
func submit(t *testing.T, c *client.Client, tk *messages.Task) *client.Handle {
	t.Helper()
	h, err := c.Submit(testCtx(t), tk)
	if err != nil {
		t.Fatalf("submit %s: %v", tk.ID, err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}
