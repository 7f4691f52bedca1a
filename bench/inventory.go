package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// inventory measures submit ls's first page over inventoryTasks finished
// tasks in JETRUN_INDEX (one in a thousand failed), against the way a
// list without the index's subject filters must work: read the whole
// index with an ordered consumer and keep the newest. It also counts what
// the inventory costs per task in stored messages, from a real worker's
// run of tasks on the fake driver, with and without the two new streams.
func (h *harness) inventory(ctx context.Context) (*result, error) {
	n := h.cfg.inventoryTasks
	r := &result{
		Name: benchInventory, Unit: "ms", Lower: true, Target: 10,
		JetrunWhat:   fmt.Sprintf("client.List, the first page of 50 of every task (the newest), over %d finished tasks in JETRUN_INDEX", n),
		BaselineWhat: fmt.Sprintf("an ordered consumer reading all %d index records and keeping the newest 50", n),
	}
	env, conns, err := h.startNATSConns("bench-inventory")
	if err != nil {
		return nil, err
	}
	defer env.close()
	nc := conns[0]
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := worker.EnsureStreams(ctx, js, messages.DefaultPrefix); err != nil {
		return nil, err
	}
	if err := fillIndex(ctx, js, n); err != nil {
		return nil, err
	}
	c, err := client.New(nc)
	if err != nil {
		return nil, err
	}
	failedPage := extra{Key: "failed_page_ms", Label: fmt.Sprintf("List --state failed (%d of %d)", n/1000, n), Unit: "ms"}
	perPage := extra{Key: "page_requests", Label: "server messages in, one first page", Unit: "msgs"}
	err = h.repeat(ctx, r, func(ctx context.Context, _ int) (float64, error) {
		before, err := env.srv.Varz(nil) // in_msgs counts every request the page made
		if err != nil {
			return 0, err
		}
		start := time.Now()
		page, err := c.List(ctx, client.ListOptions{})
		d := time.Since(start)
		if err != nil || len(page.Tasks) != 50 || !page.More {
			return 0, fmt.Errorf("list: %d tasks, %v", len(page.Tasks), err)
		}
		after, err := env.srv.Varz(nil)
		if err != nil {
			return 0, err
		}
		perPage.Vals = append(perPage.Vals, float64(after.InMsgs-before.InMsgs))
		start = time.Now()
		failed, err := c.List(ctx, client.ListOptions{State: client.StateFailed})
		if err != nil || len(failed.Tasks) != 50 {
			return 0, fmt.Errorf("list failed: %d tasks, %v", len(failed.Tasks), err)
		}
		failedPage.Vals = append(failedPage.Vals, ms(time.Since(start)))
		return ms(d), nil
	}, func(ctx context.Context, _ int) (float64, error) {
		start := time.Now()
		newest, err := scanIndex(ctx, js, n)
		if err != nil || len(newest) != 50 {
			return 0, fmt.Errorf("scan: %d, %v", len(newest), err)
		}
		return ms(time.Since(start)), nil
	})
	if err != nil {
		return r, err
	}
	cost, err := h.inventoryCost(ctx)
	if err != nil {
		return r, err
	}
	r.Extra = append([]extra{failedPage, perPage}, cost...)
	return r, nil
}

// fillIndex publishes n index records, as workers write them: one in a
// thousand failed, the rest succeeded, in two queues.
func fillIndex(ctx context.Context, js jetstream.JetStream, n int) error {
	subj := messages.NewSubjects(messages.DefaultPrefix)
	now := time.Now().UTC()
	for i := range n {
		state, status, code := messages.TaskSucceeded, messages.ResultSuccess, 0
		if i%1000 == 999 {
			state, status, code = messages.TaskFailed, messages.ResultError, 1
		}
		queue := []string{"default", "batch"}[i%2]
		id := fmt.Sprintf("bench-%06d", i)
		data, err := messages.Encode(&messages.Summary{
			ID: id, Queue: queue, State: state, Status: status, ExitCode: code, Attempt: 1, Worker: "bench-worker",
			Submitted: now, Started: now, Finished: now, LogBytes: 1234,
			Spec: &messages.Task{ID: id, Image: "registry.example/team/app:1.2.3", Cmd: []string{"run", "--input", "/data/x"}, Env: map[string]string{"MODE": ""}},
		})
		if err != nil {
			return err
		}
		if _, err := js.PublishAsync(subj.Index(state, queue, id), data); err != nil {
			return err
		}
		if i%2000 == 1999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// scanIndex reads every index record and returns the newest 50.
func scanIndex(ctx context.Context, js jetstream.JetStream, n int) ([]string, error) {
	cons, err := js.OrderedConsumer(ctx, messages.IndexStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return nil, err
	}
	var newest []string
	for read := 0; read < n; {
		batch, err := cons.FetchNoWait(1000)
		if err != nil {
			return nil, err
		}
		got := 0
		for m := range batch.Messages() {
			s, err := messages.DecodeSummary(m.Data())
			if err != nil {
				return nil, err
			}
			newest = append(newest, s.ID)
			if len(newest) > 50 {
				newest = newest[1:]
			}
			got++
		}
		if batch.Error() != nil {
			return nil, batch.Error()
		}
		read += got
		if got == 0 {
			time.Sleep(time.Millisecond) // the next batch is on its way
		}
	}
	slices.Reverse(newest)
	return newest, nil
}

// inventoryCost runs tasks through a real worker on the fake driver and
// counts the messages the streams stored per task, with and without
// JETRUN_INDEX and JETRUN_DEAD: the inventory's cost per task.
func (h *harness) inventoryCost(ctx context.Context) ([]extra, error) {
	const tasks = 200
	env, conns, err := h.startNATSConns("bench-cost-worker", "bench-cost-client")
	if err != nil {
		return nil, err
	}
	defer env.close()
	js, err := jetstream.New(conns[1])
	if err != nil {
		return nil, err
	}
	if err := worker.EnsureStreams(ctx, js, messages.DefaultPrefix); err != nil {
		return nil, err
	}
	rw, err := startWorker(ctx, conns[0], fake.New(fake.Options{}), worker.Config{WorkerID: "cost", Concurrency: 8, PullWait: 200 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	defer func() { _ = rw.stop() }()
	c, err := client.New(conns[1])
	if err != nil {
		return nil, err
	}
	for i := range tasks {
		args := []string{"echo", "hello"}
		if i%2 == 1 {
			args = []string{"exit", "1"}
		}
		if _, err := c.SubmitAsync(ctx, &messages.Task{ID: fmt.Sprintf("cost-%d", i), Image: "fake", Cmd: args}); err != nil {
			return nil, err
		}
	}
	if err := c.Flush(ctx); err != nil {
		return nil, err
	}
	err = poll(ctx, time.Minute, func() (bool, error) {
		st, err := js.Stream(ctx, messages.IndexStream)
		if err != nil {
			return false, err
		}
		return st.CachedInfo().State.Msgs == tasks, nil
	})
	if err != nil {
		return nil, fmt.Errorf("tasks did not finish: %w", err)
	}
	stored := map[string]uint64{}
	for _, name := range worker.StreamNames() {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return nil, err
		}
		stored[name] = st.CachedInfo().State.LastSeq
	}
	var before, after uint64
	var parts []string
	for _, name := range worker.StreamNames() {
		after += stored[name]
		if name != messages.IndexStream && name != messages.DeadStream && name != messages.CountersStream {
			before += stored[name]
		}
		parts = append(parts, fmt.Sprintf("%s %d", name, stored[name]))
	}
	h.logf("  stored messages for %d tasks (half failed): %s", tasks, strings.Join(parts, ", "))
	per := func(v uint64) float64 { return float64(v) / tasks }
	return []extra{
		{Key: "msgs_per_task_before", Label: "stored messages per task without the inventory (half failed)", Unit: "msgs", Vals: []float64{per(before)}},
		{Key: "msgs_per_task_after", Label: "stored messages per task with it", Unit: "msgs", Vals: []float64{per(after)}},
	}, nil
}
