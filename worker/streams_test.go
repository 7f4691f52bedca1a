package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
)

func TestLayoutDiffs(t *testing.T) {
	cfgs := streamConfigs(Config{}.WithDefaults())
	tasks, events, results := cfgs[0], cfgs[1], cfgs[3]
	for _, tc := range []struct {
		name   string
		want   jetstream.StreamConfig
		tamper func(*jetstream.StreamConfig)
		says   string
	}{
		{"republish into tasks", events, func(c *jetstream.StreamConfig) {
			c.RePublish = &jetstream.RePublish{Source: "jetrun.events.>", Destination: "jetrun.tasks.default"}
		}, `republishes "jetrun.events.>" to "jetrun.tasks.default"`},
		{"max msgs", tasks, func(c *jetstream.StreamConfig) { c.MaxMsgs = 1 }, "max_msgs is 1, want unlimited"},
		{"smaller events", events, func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 20 }, "max_bytes is 1048576"},
		{"sources", tasks, func(c *jetstream.StreamConfig) { c.Sources = []*jetstream.StreamSource{{Name: "X"}} }, `sources stream "X"`},
		{"mirror", results, func(c *jetstream.StreamConfig) { c.Mirror = &jetstream.StreamSource{Name: "X"} }, `mirrors stream "X"`},
		{"extra subject", tasks, func(c *jetstream.StreamConfig) { c.Subjects = append(c.Subjects, "x.>") }, "subjects are"},
		{"limits retention", tasks, func(c *jetstream.StreamConfig) { c.Retention = jetstream.LimitsPolicy }, "retention is"},
		{"second result allowed", results, func(c *jetstream.StreamConfig) { c.DiscardNewPerSubject = false }, "discard_new_per_subject"},
		{"no direct get", results, func(c *jetstream.StreamConfig) { c.AllowDirect = false }, "allow_direct is off"},
		{"idle consumers kept", events, func(c *jetstream.StreamConfig) { c.ConsumerLimits.InactiveThreshold = 0 }, "inactive_threshold is unlimited"},
		{"more consumers", events, func(c *jetstream.StreamConfig) { c.MaxConsumers = -1 }, "max_consumers is unlimited"},
	} {
		have := tc.want
		tc.tamper(&have)
		d := strings.Join(layoutDiffs(have, tc.want), "; ")
		if !strings.Contains(d, tc.says) {
			t.Errorf("%s: differences %q; want them to say %q", tc.name, d, tc.says)
		}
	}
	// Stronger than needed is accepted: more room, more replicas, fewer
	// consumers.
	have := events
	have.MaxBytes, have.MaxAge, have.Replicas, have.MaxConsumers = -1, 0, 3, 10
	if d := layoutDiffs(have, events); len(d) != 0 {
		t.Errorf("a roomier events stream: differences %q; want none", d)
	}
}

// A worker that verifies waits for streams nobody provisioned yet,
// creating none, says why it is not ready, and starts once they are.
func TestVerifyStreamsWaitsForProvisioning(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	cfg := testConfig("w1")
	cfg.VerifyStreams = true
	w, err := New(nc, fake.New(fake.Options{}), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	natstest.Eventually(t, 10*time.Second, func() bool {
		err := w.Ready(ctx)
		return err != nil && strings.Contains(err.Error(), "worker --provision")
	}, "Ready does not say the streams wait for worker --provision")
	js, _ := jetstream.New(nc)
	if names := js.StreamNames(t.Context()); names.Err() == nil {
		for n := range names.Name() {
			t.Errorf("stream %s exists; a verifying worker must create none", n)
		}
	}

	if err := Provision(t.Context(), js, cfg, nil); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return w.Ready(ctx) == nil }, "worker not ready on provisioned streams")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A worker that verifies refuses a stream with fewer replicas than its
// Streams.Replicas, saying so.
func TestVerifyStreamsRefusesFewerReplicas(t *testing.T) {
	cfgs := streamConfigs(Config{Streams: StreamConfig{Replicas: 3}}.WithDefaults())
	have := cfgs[0]
	have.Replicas = 1
	if d := strings.Join(layoutDiffs(have, cfgs[0]), "; "); !strings.Contains(d, "replicas are 1, want at least 3") {
		t.Fatalf("differences %q; want them to name the replicas", d)
	}
}

// Provisioning keeps what an operator made stronger and fixes the rest.
func TestProvisionKeepsStrongerSettings(t *testing.T) {
	want := streamConfigs(Config{}.WithDefaults())[1] // events
	have := want
	have.Replicas, have.MaxAge, have.MaxBytes, have.MaxConsumers = 3, 0, 4<<30, 50
	have.MaxMsgs = 1 // unsafe: provisioning resets it
	got, kept := keepStronger(have, want)
	if got.Replicas != 3 || got.MaxAge != 0 || got.MaxBytes != 4<<30 || got.MaxConsumers != 50 || got.MaxMsgs != want.MaxMsgs {
		t.Errorf("merged %+v; want the operator's replicas, age, bytes and consumers, jetrun's max_msgs", got)
	}
	if len(kept) != 4 {
		t.Errorf("kept %q; want the 4 settings named", kept)
	}
	if _, kept := keepStronger(want, want); len(kept) != 0 {
		t.Errorf("kept %q from jetrun's own settings", kept)
	}
}
