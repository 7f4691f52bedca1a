package main

import (
	"context"
	"fmt"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// pipelineTimeout bounds one pipeline run.
const pipelineTimeout = 5 * time.Minute

// pipeline pushes N tasks through JetStream, a worker on the fake driver
// (whose "true" succeeds at once) and back as results, against a plain
// pull consumer that consumes and acks the same N messages.
func (h *harness) pipeline(ctx context.Context) (*result, error) {
	n := h.cfg.pipelineTasks
	r := &result{
		Name: benchPipeline, Unit: "tasks/s", Target: 0.5,
		JetrunWhat: fmt.Sprintf("%d tasks submitted with client.SubmitAsync (at most %d unacknowledged), run by one worker (concurrency %d) on the fake driver, until client.WatchResults saw all %d results",
			n, client.DefaultMaxPending, h.cfg.pipelineConcurrency, n),
		BaselineWhat: fmt.Sprintf("the same %d task messages (same bytes, same Nats-Msg-Id) published asynchronously (at most %d unacknowledged) to a work-queue stream, consumed by a nats.go jetstream Consume pull consumer that acks each, until all %d acks were sent",
			n, client.DefaultMaxPending, n),
	}
	var jetCost, baseCost perTask
	jet := func(ctx context.Context, rep int) (float64, error) {
		v, cost, err := h.pipelineJetrun(ctx, rep)
		jetCost.add(cost)
		return v, err
	}
	base := func(ctx context.Context, rep int) (float64, error) {
		v, cost, err := h.pipelineBaseline(ctx, rep)
		baseCost.add(cost)
		return v, err
	}
	err := h.repeat(ctx, r, jet, base)
	if err == nil {
		r.Notes = append(r.Notes, fmt.Sprintf("Per task, the NATS server handled %.1f messages (in + out, from its Varz counters) for jetrun and %.1f for the baseline, and this process (server, worker, client, all of it) used %.0f µs of CPU for jetrun and %.0f µs for the baseline (medians over repeats).",
			summarize(jetCost.msgs).Median, summarize(baseCost.msgs).Median, summarize(jetCost.cpuUS).Median, summarize(baseCost.cpuUS).Median))
	}
	return r, err
}

// perTask is what one pipeline run cost per task: messages through the
// server and CPU time of this process.
type perTask struct{ msgs, cpuUS []float64 }

type cost struct{ msgs, cpuUS float64 }

func (p *perTask) add(c cost) {
	p.msgs, p.cpuUS = append(p.msgs, c.msgs), append(p.cpuUS, c.cpuUS)
}

// cpuTime is the user plus system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverMsgsPer returns the messages the server received and sent so far,
// per task.
func serverMsgsPer(env *natsEnv, n int) float64 {
	v, err := env.srv.Varz(nil)
	if err != nil {
		return math.NaN()
	}
	return float64(v.InMsgs+v.OutMsgs) / float64(n)
}

// pipelineTasks returns n ready tasks with ids unique to the repeat.
func pipelineTasks(n, rep int) []*messages.Task {
	tasks := make([]*messages.Task, n)
	for i := range tasks {
		tasks[i] = &messages.Task{ID: fmt.Sprintf("p%d-%06d", rep, i), Image: "jetrun-testee:bench", Cmd: []string{"true"}}
	}
	return tasks
}

func (h *harness) pipelineJetrun(ctx context.Context, rep int) (rate float64, c cost, err error) {
	ctx, cancel := context.WithTimeout(ctx, pipelineTimeout)
	defer cancel()
	env, conns, err := h.startNATSConns("bench-worker", "bench-producer")
	if err != nil {
		return 0, cost{}, err
	}
	defer env.close()
	ncW, ncP := conns[0], conns[1]

	drv := fake.New(fake.Options{WorkerID: "bench-pipeline"})
	wk, err := startWorker(ctx, ncW, drv, worker.Config{WorkerID: "bench-pipeline", Concurrency: h.cfg.pipelineConcurrency})
	if err != nil {
		return 0, cost{}, err
	}
	defer func() { _ = wk.stop() }()

	cl, err := client.New(ncP)
	if err != nil {
		return 0, cost{}, err
	}
	tasks := pipelineTasks(h.cfg.pipelineTasks, rep)
	cpu0 := cpuTime()
	rate, err = runMany(ctx, cl, len(tasks), func(i int) *messages.Task { return tasks[i] })
	cpu := cpuTime() - cpu0
	if err != nil {
		return 0, cost{}, err
	}
	if got := drv.Runs(); got != int64(len(tasks)) {
		return 0, cost{}, fmt.Errorf("the driver ran %d tasks, want %d", got, len(tasks))
	}
	return rate, cost{msgs: serverMsgsPer(env, len(tasks)), cpuUS: float64(cpu.Microseconds()) / float64(len(tasks))}, nil
}

func (h *harness) pipelineBaseline(ctx context.Context, rep int) (rate float64, c cost, err error) {
	ctx, cancel := context.WithTimeout(ctx, pipelineTimeout)
	defer cancel()
	env, conns, err := h.startNATSConns("baseline-consumer", "baseline-producer")
	if err != nil {
		return 0, cost{}, err
	}
	defer env.close()
	ncC, ncP := conns[0], conns[1]

	const stream, subject = "BASELINE", "baseline.tasks.default"
	// The same publisher mechanics as client.SubmitAsync: a slot per
	// unacknowledged publish, released by the ack handlers.
	slots := make(chan struct{}, client.DefaultMaxPending)
	var pubErrs atomic.Int64
	jsP, err := jetstream.New(ncP,
		jetstream.WithPublishAsyncMaxPending(client.DefaultMaxPending),
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) { <-slots }),
		jetstream.WithPublishAsyncErrHandler(func(jetstream.JetStream, *nats.Msg, error) { pubErrs.Add(1); <-slots }),
	)
	if err != nil {
		return 0, cost{}, err
	}
	jsC, err := jetstream.New(ncC)
	if err != nil {
		return 0, cost{}, err
	}
	// The same stream and consumer settings as JETRUN_TASKS and a
	// worker's consumer.
	def := worker.Config{}.WithDefaults()
	if _, err := jsC.CreateStream(ctx, jetstream.StreamConfig{
		Name: stream, Subjects: []string{"baseline.tasks.>"}, Retention: jetstream.WorkQueuePolicy,
		Storage: jetstream.FileStorage, Duplicates: def.Streams.Duplicates, MaxMsgSize: def.Streams.MaxTaskSize,
	}); err != nil {
		return 0, cost{}, fmt.Errorf("create stream: %w", err)
	}
	cons, err := jsC.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable: "baseline", FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: def.AckWait, MaxDeliver: def.MaxDeliver, MaxAckPending: def.MaxAckPending,
	})
	if err != nil {
		return 0, cost{}, fmt.Errorf("create consumer: %w", err)
	}

	tasks := pipelineTasks(h.cfg.pipelineTasks, rep)
	n := len(tasks)
	batch := make([]*nats.Msg, n)
	for i, t := range tasks {
		data, err := messages.Encode(t)
		if err != nil {
			return 0, cost{}, err
		}
		batch[i] = &nats.Msg{Subject: subject, Data: data, Header: nats.Header{jetstream.MsgIDHeader: []string{t.ID}}}
	}

	var acked atomic.Int64
	all := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if err := m.Ack(); err != nil {
			return
		}
		if acked.Add(1) == int64(n) {
			close(all)
		}
	})
	if err != nil {
		return 0, cost{}, fmt.Errorf("consume: %w", err)
	}
	defer cc.Stop()

	cpu0 := cpuTime()
	start := time.Now()
	for _, m := range batch {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return 0, cost{}, context.Cause(ctx)
		}
		if _, err := jsP.PublishMsgAsync(m, jetstream.WithExpectStream(stream)); err != nil {
			return 0, cost{}, fmt.Errorf("publish: %w", err)
		}
	}
	select {
	case <-all:
	case <-ctx.Done():
		return 0, cost{}, fmt.Errorf("acked %d of %d: %w", acked.Load(), n, context.Cause(ctx))
	}
	if err := ncC.FlushWithContext(ctx); err != nil {
		return 0, cost{}, fmt.Errorf("flush acks: %w", err)
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	if e := pubErrs.Load(); e > 0 {
		return 0, cost{}, fmt.Errorf("%d publishes failed", e)
	}
	if err := poll(ctx, 10*time.Second, func() (bool, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return false, err
		}
		return info.NumPending == 0 && info.NumAckPending == 0 && info.NumRedelivered == 0, nil
	}); err != nil {
		return 0, cost{}, fmt.Errorf("acks not all recorded: %w", err)
	}
	return float64(n) / elapsed.Seconds(), cost{msgs: serverMsgsPer(env, n), cpuUS: float64(cpu.Microseconds()) / float64(n)}, nil
}
