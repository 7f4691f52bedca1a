package client_test

// A stand-in worker that follows the protocol, used until the real worker
// lands. It is replaced by worker.New on the fake driver.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

func ensureStreams(t *testing.T, js jetstream.JetStream, prefix string) {
	t.Helper()
	s := messages.NewSubjects(prefix)
	for _, cfg := range []jetstream.StreamConfig{
		{Name: messages.TasksStream, Subjects: []string{s.AllTasks()}, Retention: jetstream.WorkQueuePolicy, Duplicates: 10 * time.Minute},
		{Name: messages.EventsStream, Subjects: []string{s.AllEvents()}, AllowDirect: true},
		{Name: "JETRUN_CANCELS", Subjects: []string{s.AllCancels()}, MaxMsgsPerSubject: 1, AllowDirect: true},
	} {
		if _, err := js.CreateOrUpdateStream(t.Context(), cfg); err != nil {
			t.Fatal(err)
		}
	}
}

type runs struct {
	mu sync.Mutex
	n  map[string]int
}

func (r *runs) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[id]
}

func startWorker(t *testing.T, e *env) *runs {
	t.Helper()
	prefix := e.c.Prefix()
	ensureStreams(t, e.js, prefix)
	s := messages.NewSubjects(prefix)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	r := &runs{n: map[string]int{}}
	var mu sync.Mutex
	cancels := map[string]chan string{}
	csub, err := e.nc.Subscribe(s.AllCancels(), func(m *nats.Msg) {
		c, _ := messages.DecodeCancel(m.Data)
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := cancels[c.ID]; ok {
			select {
			case ch <- c.Reason:
			default:
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = csub.Unsubscribe() })
	cons, err := e.js.CreateOrUpdateConsumer(ctx, messages.TasksStream, jetstream.ConsumerConfig{
		Durable: "jetrun-default", FilterSubject: s.Task(""), AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		tk, err := messages.DecodeTask(m.Data())
		if err != nil {
			_ = m.Term()
			return
		}
		r.mu.Lock()
		r.n[tk.ID]++
		r.mu.Unlock()
		ch := make(chan string, 1)
		mu.Lock()
		cancels[tk.ID] = ch
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			reply := s.Reply(tk)
			pub := func(subj string, v any) {
				data, _ := messages.Encode(v)
				_ = e.nc.Publish(subj, data)
			}
			pub(messages.StatusSubject(reply), &messages.Status{ID: tk.ID, State: messages.StateRunning, Attempt: 1, Time: time.Now()})
			res := &messages.Result{ID: tk.ID, Status: messages.ResultSuccess, Attempt: 1}
			var seq uint64
		steps:
			for step := range strings.SplitSeq(strings.Join(tk.Cmd, " "), " ; ") {
				f := strings.Fields(step)
				if len(f) == 0 {
					continue
				}
				switch f[0] {
				case "echo":
					pub(messages.LogSubject(reply), &messages.Log{ID: tk.ID, Stream: "stdout", Seq: seq, Data: []byte(strings.Join(f[1:], " ") + "\n")})
					seq++
				case "exit":
					res.Status, res.ExitCode = messages.ResultError, 1
				case "sleep":
					select {
					case reason := <-ch:
						res.Status, res.ExitCode, res.Error = messages.ResultCancelled, -1, "cancelled: "+reason
						break steps
					case <-ctx.Done():
						return
					}
				}
			}
			res.Finished = time.Now()
			data, _ := messages.Encode(res)
			_, _ = e.js.PublishMsg(ctx, &nats.Msg{Subject: messages.ResultSubject(reply), Data: data,
				Header: nats.Header{jetstream.MsgIDHeader: []string{tk.ID + ".result"}}})
			_ = m.Ack()
		}()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return r
}
