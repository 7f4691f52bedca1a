package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// latency times submit-to-result of a container running "true" through
// the whole stack, against create-start-wait-remove on the Docker API.
// Samples are interleaved one by one (the order alternating), so a
// disturbance from elsewhere on the machine hits both sides alike; each
// repeat's figure is the median of its samples.
func (h *harness) latency(ctx context.Context) (*result, error) {
	n := h.cfg.latencySamples
	r := &result{
		Name: benchLatency, Unit: "ms", Lower: true, Target: 0.91,
		JetrunWhat:   fmt.Sprintf("median of %d sequential client.Run calls (submit, a worker of concurrency 1 on the Docker driver runs the test image with `true`, result back)", n),
		BaselineWhat: fmt.Sprintf("median of %d sequential create, wait, start, exit, remove on the Docker API with the same image, command and container settings; the two sides' samples alternate one by one, after one unmeasured warm-up each", n),
	}
	var jetAll, baseAll []float64
	for rep := range h.cfg.repeats {
		jet, base, err := h.latencyRepeat(ctx, rep, n)
		if err != nil {
			return r, fmt.Errorf("repeat %d: %w", rep+1, err)
		}
		jetAll, baseAll = append(jetAll, jet...), append(baseAll, base...)
		r.Jetrun = append(r.Jetrun, summarize(jet).Median)
		r.Baseline = append(r.Baseline, summarize(base).Median)
		h.logf("  repeat %d jetrun %.1f ms, baseline %.1f ms (medians of %d)", rep+1, summarize(jet).Median, summarize(base).Median, n)
	}
	h.logf("  ratio %.3f (target %.2f, %s)", r.Ratio(), r.Target, metWord(r.Met()))
	r.Notes = append(r.Notes, fmt.Sprintf("All %d samples per side: jetrun p10 %.0f / p50 %.0f / p90 %.0f ms, baseline p10 %.0f / p50 %.0f / p90 %.0f ms.",
		len(jetAll), percentile(jetAll, 10), percentile(jetAll, 50), percentile(jetAll, 90),
		percentile(baseAll, 10), percentile(baseAll, 50), percentile(baseAll, 90)))
	return r, nil
}

// latencyRepeat takes n samples of each side, alternating, on a fresh
// stack.
func (h *harness) latencyRepeat(ctx context.Context, rep, n int) (jet, base []float64, err error) {
	s, err := h.startStack(ctx, fmt.Sprintf("bench-latency-%d", rep), 1, nil)
	if err != nil {
		return nil, nil, err
	}
	defer s.close()
	jetOne := func(i int) (float64, error) {
		t := &messages.Task{ID: fmt.Sprintf("lat%d-%03d", rep, i), Image: h.image, Cmd: []string{"true"}}
		start := time.Now()
		res, err := s.client.Run(ctx, t)
		if err != nil {
			return 0, err
		}
		d := time.Since(start)
		if res.Status != messages.ResultSuccess {
			return 0, fmt.Errorf("task %s: %s: %s", t.ID, res.Status, res.Error)
		}
		return ms(d), nil
	}
	baseOne := func(int) (float64, error) {
		start := time.Now()
		if err := h.directRun(ctx, []string{"true"}, nil); err != nil {
			return 0, err
		}
		return ms(time.Since(start)), nil
	}
	err = h.profiled(fmt.Sprintf("latency-%d", rep+1), func() error {
		for i := range n + 1 { // sample 0 warms up
			first, second := jetOne, baseOne
			if (i+rep)%2 == 1 {
				first, second = baseOne, jetOne
			}
			a, err := first(i)
			if err != nil {
				return err
			}
			b, err := second(i)
			if err != nil {
				return err
			}
			if (i+rep)%2 == 1 {
				a, b = b, a
			}
			if i > 0 {
				jet, base = append(jet, a), append(base, b)
			}
		}
		return nil
	})
	return jet, base, err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// throughputRound is how many containers each side runs in a row before
// the other side's turn: short rounds, alternating, so that a change in the
// machine's load during a repeat hits both sides alike.
const throughputRound = 8

// throughput counts containers per second at a fixed concurrency through
// the stack against as many goroutines on the Docker API.
func (h *harness) throughput(ctx context.Context) (*result, error) {
	n, conc := h.cfg.throughputTasks, h.cfg.throughputConc
	r := &result{
		Name: benchThroughput, Unit: "containers/s", Target: 0.95,
		JetrunWhat: fmt.Sprintf("%d tasks running `true` per repeat, in rounds of %d submitted at once with client.SubmitAsync to one worker (Docker driver, concurrency %d), each round until client.WatchResults saw its results",
			n, throughputRound, conc),
		BaselineWhat: fmt.Sprintf("%d goroutines doing create, wait, start, exit, remove on the Docker API, in rounds of %d containers; the two sides' rounds alternate (the order alternating too) and each side's figure is its containers over the sum of its rounds' times", conc, throughputRound),
	}
	for rep := range h.cfg.repeats {
		jet, base, err := h.throughputRepeat(ctx, rep, n, conc)
		if err != nil {
			return r, fmt.Errorf("repeat %d: %w", rep+1, err)
		}
		r.Jetrun, r.Baseline = append(r.Jetrun, jet), append(r.Baseline, base)
		h.logf("  repeat %d jetrun %.2f, baseline %.2f containers/s", rep+1, jet, base)
	}
	h.logf("  ratio %.3f (target %.2f, %s)", r.Ratio(), r.Target, metWord(r.Met()))
	return r, nil
}

// throughputRepeat runs n containers on each side, in alternating rounds,
// on a fresh stack, and returns each side's containers per second.
func (h *harness) throughputRepeat(ctx context.Context, rep, n, conc int) (jet, base float64, err error) {
	s, err := h.startStack(ctx, fmt.Sprintf("bench-throughput-%d", rep), conc, nil)
	if err != nil {
		return 0, 0, err
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	var jetTime, baseTime time.Duration
	jetRound := func(round, k int) error {
		start := time.Now()
		_, err := runMany(ctx, s.client, k, func(i int) *messages.Task {
			return &messages.Task{ID: fmt.Sprintf("thr%d-%03d-%02d", rep, round, i), Image: h.image, Cmd: []string{"true"}}
		})
		jetTime += time.Since(start)
		return err
	}
	baseRound := func(_, k int) error {
		start := time.Now()
		err := h.directMany(ctx, k, conc)
		baseTime += time.Since(start)
		return err
	}
	err = h.profiled(fmt.Sprintf("throughput-%d", rep+1), func() error {
		for round, done := 0, 0; done < n; round++ {
			k := min(throughputRound, n-done)
			first, second := jetRound, baseRound
			if (round+rep)%2 == 1 {
				first, second = baseRound, jetRound
			}
			if err := first(round, k); err != nil {
				return err
			}
			if err := second(round, k); err != nil {
				return err
			}
			done += k
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return float64(n) / jetTime.Seconds(), float64(n) / baseTime.Seconds(), nil
}

// directMany runs n containers running "true" on the Docker API from conc
// goroutines.
func (h *harness) directMany(ctx context.Context, n, conc int) error {
	var next atomic.Int64
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := h.directRun(ctx, []string{"true"}, nil); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// runMany submits n tasks asynchronously and waits until every result is
// seen; it returns tasks per second and fails if any task did not succeed.
func runMany(ctx context.Context, c *client.Client, n int, task func(i int) *messages.Task) (float64, error) {
	seen := make(map[string]bool, n) // owned by the WatchResults goroutine
	var failed atomic.Value
	all := make(chan struct{})
	stop, err := c.WatchResults(func(res *messages.Result) {
		if seen[res.ID] {
			return
		}
		seen[res.ID] = true
		if res.Status != messages.ResultSuccess {
			failed.CompareAndSwap(nil, fmt.Sprintf("task %s: %s: %s", res.ID, res.Status, res.Error))
		}
		if len(seen) == n {
			close(all)
		}
	})
	if err != nil {
		return 0, err
	}
	defer func() { _ = stop() }()
	start := time.Now()
	pending := make([]*client.Pending, 0, n)
	for i := range n {
		p, err := c.SubmitAsync(ctx, task(i))
		if err != nil {
			return 0, err
		}
		pending = append(pending, p)
	}
	select {
	case <-all:
	case <-ctx.Done():
		return 0, fmt.Errorf("results incomplete: %w", context.Cause(ctx))
	}
	elapsed := time.Since(start)
	for _, p := range pending {
		if err := p.Err(); err != nil {
			return 0, fmt.Errorf("publish: %w", err)
		}
	}
	if f := failed.Load(); f != nil {
		return 0, fmt.Errorf("a task failed: %s", f)
	}
	return float64(n) / elapsed.Seconds(), nil
}
