package jsdirect_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/jsdirect"
	"github.com/jetrun/jetrun/internal/natstest"
)

// setup stores n messages on s.<i%3>.<i> in stream S, one per subject.
func setup(t *testing.T, n int) (*jsdirect.Reader, jetstream.Stream) {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, AllowDirect: true, MaxMsgsPerSubject: 1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := js.PublishAsync(fmt.Sprintf("s.%d.m%d", i%3, i), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(10 * time.Second):
		t.Fatal("publishes not acked")
	}
	return jsdirect.New(nc), st
}

func TestNewestPagesBackwardsThroughAFilter(t *testing.T) {
	r, _ := setup(t, 1000)
	ctx := context.Background()
	// s.1.* holds i = 1, 4, 7 ... 997: the newest is 997.
	var got []string
	before := uint64(0)
	for page := 0; ; page++ {
		msgs, next, err := r.Newest(ctx, "S", "s.1.*", before, time.Time{}, 100, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			got = append(got, string(m.Data))
		}
		if next == 0 {
			break
		}
		before = next
		if page > 10 {
			t.Fatal("paging does not end")
		}
	}
	if len(got) != 333 || got[0] != "997" || got[332] != "1" {
		t.Fatalf("got %d messages, first %q last %q; want 333 from 997 down to 1", len(got), got[0], got[len(got)-1])
	}
	for i := 1; i < len(got); i++ {
		var a, b int
		fmt.Sscan(got[i-1], &a)
		fmt.Sscan(got[i], &b)
		if a-b != 3 {
			t.Fatalf("message %d is %d after %d: a page skipped or repeated one", i, b, a)
		}
	}
}

func TestNewestFindsARareMatchAndKeepFilters(t *testing.T) {
	r, _ := setup(t, 3000)
	ctx := context.Background()
	msgs, next, err := r.Newest(ctx, "S", "s.*.m5", 0, time.Time{}, 10, nil)
	if err != nil || len(msgs) != 1 || string(msgs[0].Data) != "5" || next != 0 {
		t.Fatalf("rare match: %v %v next %d", msgs, err, next)
	}
	keep := func(m *jsdirect.Msg) bool { return string(m.Data) == "12" || string(m.Data) == "2997" }
	msgs, _, err = r.Newest(ctx, "S", "s.>", 0, time.Time{}, 10, keep)
	if err != nil || len(msgs) != 2 || string(msgs[0].Data) != "2997" || string(msgs[1].Data) != "12" {
		t.Fatalf("keep: %v %v", msgs, err)
	}
}

func TestCountAndLast(t *testing.T) {
	r, _ := setup(t, 300)
	ctx := context.Background()
	n, err := r.Count(ctx, "S", "s.2.*", time.Time{})
	if err != nil || n != 100 {
		t.Fatalf("count s.2.* = %d, %v; want 100", n, err)
	}
	n, err = r.Count(ctx, "S", "s.2.*", time.Now().Add(time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("count in the future = %d, %v; want 0", n, err)
	}
	m, err := r.Last(ctx, "S", "s.*.m42")
	if err != nil || m == nil || string(m.Data) != "42" || m.Subject != "s.0.m42" {
		t.Fatalf("last by wildcard: %+v %v", m, err)
	}
	m, err = r.Last(ctx, "S", "s.*.nope")
	if err != nil || m != nil {
		t.Fatalf("last of nothing: %+v %v", m, err)
	}
	msgs, err := r.LastOf(ctx, "S", []string{"s.1.m3", "s.1.m4", "s.1.nope", "s.2.m299"})
	if err != nil || len(msgs) != 2 || string(msgs[0].Data) != "4" || string(msgs[1].Data) != "299" {
		t.Fatalf("last of several subjects: %v, %v; want m4 and m299 (m3 is on s.0, not s.1; nope is none)", msgs, err)
	}
	if _, err := r.Count(ctx, "NOPE", "s.>", time.Time{}); !errors.Is(err, jsdirect.ErrNoStream) {
		t.Fatalf("missing stream: %v; want ErrNoStream", err)
	}
}
