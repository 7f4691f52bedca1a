package worker

import (
	"context"
	"errors"
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

// A worker that verifies refuses to start without provisioned streams,
// and creates none.
func TestVerifyStreamsRefusesMissingStreams(t *testing.T) {
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	cfg := testConfig("w1")
	cfg.VerifyStreams = true
	w, err := New(nc, fake.New(fake.Options{}), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = w.Run(t.Context())
	if !errors.Is(err, ErrLayout) || !strings.Contains(err.Error(), "worker --provision") {
		t.Fatalf("Run: %v; want %v naming worker --provision", err, ErrLayout)
	}
	js, _ := jetstream.New(nc)
	if names := js.StreamNames(t.Context()); names.Err() == nil {
		for n := range names.Name() {
			t.Errorf("stream %s exists; a verifying worker must create none", n)
		}
	}

	if err := Provision(t.Context(), js, cfg); err != nil {
		t.Fatal(err)
	}
	w, err = New(nc, fake.New(fake.Options{}), cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	natstest.Eventually(t, 10*time.Second, func() bool { return w.Ready(ctx) == nil }, "worker not ready on provisioned streams")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}
