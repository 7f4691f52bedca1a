package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// streamConfig is stream's configuration, read by c.
func streamConfig(t *testing.T, c *conn, stream string) jetstream.StreamConfig {
	t.Helper()
	st, err := c.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("%s: stream %s: %v", c.user, stream, err)
	}
	return st.CachedInfo().Config
}

// TestWorkerCannotRewriteStreams performs issue 15's attack 5 with the
// worker user: a stream update that republishes events into the task
// subjects (tasks the worker wrote would run on every worker), one that
// copies tasks into events a submitter reads, and one that cuts the queue
// to one message. Each is refused, and the streams are as provisioned.
func TestWorkerCannotRewriteStreams(t *testing.T) {
	f := startFromConf(t)
	w, a := f.connect(t, "worker"), f.connect(t, "admin")
	ensureLayout(t, f, w)

	for name, tamper := range map[string]func() jetstream.StreamConfig{
		"republish events into tasks": func() jetstream.StreamConfig {
			c := streamConfig(t, w, eventsStream)
			c.RePublish = &jetstream.RePublish{Source: "jetrun.events.inject.log", Destination: subj.Task("default")}
			return c
		},
		"republish tasks into events": func() jetstream.StreamConfig {
			c := streamConfig(t, w, tasksStream)
			c.RePublish = &jetstream.RePublish{Source: subj.Task("default"), Destination: "jetrun.events.leak.log"}
			return c
		},
		"max_msgs 1": func() jetstream.StreamConfig {
			c := streamConfig(t, w, tasksStream)
			c.MaxMsgs = 1
			return c
		},
	} {
		cfg := tamper()
		t.Run(name, func(t *testing.T) {
			w.refuse(t, "$JS.API.STREAM.UPDATE."+cfg.Name, func(ctx context.Context) error {
				_, err := w.js.UpdateStream(ctx, cfg)
				return err
			})
		})
	}
	w.refuse(t, "$JS.API.STREAM.CREATE.SHADOW", func(ctx context.Context) error {
		_, err := w.js.CreateStream(ctx, jetstream.StreamConfig{Name: "SHADOW", Subjects: []string{"shadow.>"}})
		return err
	})
	for _, stream := range worker.StreamNames() {
		if c := streamConfig(t, a, stream); c.RePublish != nil || c.MaxMsgs != -1 {
			t.Errorf("%s after the attempts: republish %+v, max msgs %d; want as provisioned", stream, c.RePublish, c.MaxMsgs)
		}
	}
}

// TestWorkerVerifiesProvisionedLayout: a worker (verifying, as `worker
// --nats` does) waits on an unprovisioned server, saying so; the admin
// provisions, and a worker starts on it; once the admin
// tampers with a stream, a worker refuses to start and says what differs
// and how to fix it; provisioning again repairs it.
func TestWorkerVerifiesProvisionedLayout(t *testing.T) {
	f := startFromConf(t)
	w, a := f.connect(t, "worker"), f.connect(t, "admin")
	cfg := worker.Config{WorkerID: "w1", PullWait: 200 * time.Millisecond, DrainTimeout: time.Second, VerifyStreams: true}
	start := func() error {
		wk, err := worker.New(w.nc, fake.New(fake.Options{}), cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- wk.Run(ctx) }()
		for {
			select {
			case err := <-done:
				return err
			case <-time.After(10 * time.Millisecond):
				err := wk.Ready(ctx)
				if err == nil {
					cancel()
					return <-done
				}
				// A stream that does not exist is waited for: the
				// worker says so while it waits.
				if errors.Is(err, worker.ErrLayout) {
					cancel()
					<-done
					return err
				}
			}
		}
	}

	if err := start(); !errors.Is(err, worker.ErrLayout) {
		t.Fatalf("worker on an unprovisioned server: %v; want %v", err, worker.ErrLayout)
	}
	f.provision(t)
	if err := start(); err != nil {
		t.Fatalf("worker on the provisioned server: %v", err)
	}
	noViolations(t, w)

	tampered := streamConfig(t, a, eventsStream)
	tampered.RePublish = &jetstream.RePublish{Source: "jetrun.events.inject.log", Destination: subj.Task("default")}
	if _, err := a.js.UpdateStream(t.Context(), tampered); err != nil {
		t.Fatalf("admin: update stream: %v", err)
	}
	err := start()
	for _, want := range []string{eventsStream, `republishes "jetrun.events.inject.log" to "jetrun.tasks.default"`, "worker --provision"} {
		if !errors.Is(err, worker.ErrLayout) || !strings.Contains(err.Error(), want) {
			t.Fatalf("worker on a tampered layout: %v; want %v saying %q", err, worker.ErrLayout, want)
		}
	}
	if c := streamConfig(t, a, eventsStream); c.RePublish == nil {
		t.Fatal("the refusing worker changed the stream")
	}
	f.provision(t)
	if c := streamConfig(t, a, eventsStream); c.RePublish != nil {
		t.Fatalf("provisioning kept the republish %+v", c.RePublish)
	}
	if err := start(); err != nil {
		t.Fatalf("worker after provisioning again: %v", err)
	}

	// Artifacts are read with direct gets: a bucket without them is
	// refused, and provisioning puts them back.
	objStream := "OBJ_" + messages.ArtifactsBucket
	tampered = streamConfig(t, a, objStream)
	tampered.AllowDirect = false
	if _, err := a.js.UpdateStream(t.Context(), tampered); err != nil {
		t.Fatalf("admin: update stream: %v", err)
	}
	if err := start(); !errors.Is(err, worker.ErrLayout) || !strings.Contains(err.Error(), "direct gets") {
		t.Fatalf("worker on an artifacts bucket without direct gets: %v; want %v saying so", err, worker.ErrLayout)
	}
	f.provision(t)
	if err := start(); err != nil {
		t.Fatalf("worker after provisioning the bucket again: %v", err)
	}
}

// TestSubmitterCannotExhaustConsumers performs issue 15's attack 8 with
// the submitter user: durable consumers on JETRUN_EVENTS, as many as it
// can. The pre-2.9 durable create is refused by nats.conf; through the
// current API the stream caps their number below the account's, refuses
// any that asks to outlive its idle limit, and deletes the idle ones. The
// workers' consumer can still be created meanwhile, and once the idle
// ones are gone another producer's replay works. The limits are
// provisioned small here so that the test sees them act.
func TestSubmitterCannotExhaustConsumers(t *testing.T) {
	f := startFromConf(t)
	w, s, a := f.connect(t, "worker"), f.connect(t, "submitter"), f.connect(t, "admin")
	const maxConsumers, idle = 20, 2 * time.Second
	if err := worker.Provision(t.Context(), a.js, worker.Config{Streams: worker.StreamConfig{
		EventsMaxConsumers: maxConsumers, EventsConsumerIdle: idle,
	}}, nil); err != nil {
		t.Fatalf("admin: provision: %v", err)
	}
	ctx := t.Context()

	s.refuse(t, "$JS.API.CONSUMER.DURABLE.CREATE."+eventsStream+".old", func(ctx context.Context) error {
		_, err := s.nc.RequestWithContext(ctx, "$JS.API.CONSUMER.DURABLE.CREATE."+eventsStream+".old",
			[]byte(`{"stream_name":"JETRUN_EVENTS","config":{"durable_name":"old","ack_policy":"explicit"}}`))
		return err
	})
	var apiErr *jetstream.APIError
	_, err := s.js.CreateConsumer(ctx, eventsStream, jetstream.ConsumerConfig{Durable: "forever", InactiveThreshold: time.Hour})
	if !errors.As(err, &apiErr) {
		t.Fatalf("durable asking for an hour idle: %v; want the stream to refuse it", err)
	}
	created := 0
	for i := range maxConsumers + 5 {
		c, err := s.js.CreateConsumer(ctx, eventsStream, jetstream.ConsumerConfig{Durable: fmt.Sprintf("hog-%d", i), AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			if !errors.As(err, &apiErr) {
				t.Fatalf("durable %d: %v; want a JetStream API error", i, err)
			}
			break
		}
		if got := c.CachedInfo().Config.InactiveThreshold; got != idle {
			t.Fatalf("durable %d: inactive threshold %v; want the stream's %v", i, got, idle)
		}
		created++
	}
	if created != maxConsumers {
		t.Fatalf("submitter created %d durables on %s; want at most %d", created, eventsStream, maxConsumers)
	}

	// The account still has room for the workers.
	ensureLayout(t, f, w)

	natstest.Eventually(t, 30*time.Second, func() bool {
		info, err := a.js.Stream(ctx, eventsStream)
		return err == nil && info.CachedInfo().State.Consumers == 0
	}, "the idle durables were never deleted")

	other := f.connect(t, "submitter")
	oc, err := other.js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj.Events("t1") + ".>"}, InactiveThreshold: idle,
	})
	if err != nil {
		t.Fatalf("another submitter: ordered consumer: %v", err)
	}
	if _, err := oc.Info(ctx); err != nil {
		t.Fatalf("another submitter: ordered consumer info: %v", err)
	}
}
