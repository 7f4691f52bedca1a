package main

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// logs times how long until the submitter holds every byte a container
// writes to stdout, through the stack (live Log events) against attaching
// to the container on the Docker API.
func (h *harness) logs(ctx context.Context) (*result, error) {
	mib := h.cfg.logsMiB
	total := int64(mib) << 20
	chunk := worker.DefaultLogChunkSize
	r := &result{
		Name: benchLogs, Unit: "s", Lower: true, Target: 0.8,
		JetrunWhat:   fmt.Sprintf("client.Submit of a task running `write %d` (the test image writes %d MiB to stdout), until the handle's live Log events held all %d bytes, each checked against the pattern; the worker's log cap raised to %d MiB, chunks of %d KiB", mib, mib, total, mib+1, chunk>>10),
		BaselineWhat: fmt.Sprintf("the same container created, attached (stdcopy), started on the Docker API, until all %d bytes were read and checked the same way", total),
	}
	cmd := []string{"write", fmt.Sprint(mib)}
	jet := func(ctx context.Context, rep int) (float64, error) {
		buffer := int(total/int64(chunk)) + 64
		s, err := h.startStack(ctx, fmt.Sprintf("bench-logs-%d", rep), 1,
			func(c *worker.Config) { c.LogCap = total + 1<<20 },
			client.WithEventBuffer(buffer))
		if err != nil {
			return 0, err
		}
		defer s.close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		pw := newPatternWriter(total)
		t := &messages.Task{ID: fmt.Sprintf("logs%d", rep), Image: h.image, Cmd: cmd}
		start := time.Now()
		hd, err := s.client.Submit(ctx, t)
		if err != nil {
			return 0, err
		}
		defer hd.Close()
		var stderr int
		for ev := range hd.Events() {
			if ev.Log == nil {
				continue
			}
			if ev.Log.Stream != "stdout" {
				stderr += len(ev.Log.Data)
				continue
			}
			_, _ = pw.Write(ev.Log.Data)
		}
		res, err := hd.Result(ctx)
		if err != nil {
			return 0, err
		}
		switch {
		case res.Status != messages.ResultSuccess:
			return 0, fmt.Errorf("task %s: %s: %s", t.ID, res.Status, res.Error)
		case hd.Dropped() > 0:
			return 0, fmt.Errorf("the handle dropped %d events", hd.Dropped())
		case res.LogBytes != total || res.LogDropped != 0:
			return 0, fmt.Errorf("result counts %d log bytes kept, %d dropped; want %d, 0", res.LogBytes, res.LogDropped, total)
		case stderr > 0:
			return 0, fmt.Errorf("%d unexpected stderr bytes", stderr)
		}
		return pw.result(start)
	}
	base := func(ctx context.Context, rep int) (float64, error) {
		pw := newPatternWriter(total)
		start := time.Now()
		if err := h.directRun(ctx, cmd, pw); err != nil {
			return 0, err
		}
		return pw.result(start)
	}
	err := h.repeat(ctx, r, jet, base)
	return r, err
}

// patternWriter checks that what it is given is the testee's `write`
// output, byte i being byte(i % 251), and notes when the last expected byte
// arrived.
type patternWriter struct {
	want int64

	mu   sync.Mutex
	n    int64
	bad  int64
	done time.Time
}

// pattern is the testee's output from offset 0, long enough that any
// write of up to 1 MiB is compared in a few bytes.Equal calls.
var pattern = func() []byte {
	p := make([]byte, 251*1024)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}()

func newPatternWriter(want int64) *patternWriter { return &patternWriter{want: want} }

// Write never fails: it counts mismatching stretches and extra bytes, which
// result reports.
func (w *patternWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for rest := p; len(rest) > 0; {
		off := int(w.n % 251)
		n := min(len(rest), len(pattern)-off)
		if !bytes.Equal(rest[:n], pattern[off:off+n]) {
			w.bad++
		}
		w.n += int64(n)
		rest = rest[n:]
	}
	if w.n >= w.want && w.done.IsZero() {
		w.done = time.Now()
	}
	return len(p), nil
}

// result returns the seconds from start until every byte arrived, or why
// the output was not what the container wrote.
func (w *patternWriter) result(start time.Time) (float64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.bad > 0:
		return 0, fmt.Errorf("output differs from what the container wrote in %d places", w.bad)
	case w.n != w.want:
		return 0, fmt.Errorf("got %d bytes of output, want %d", w.n, w.want)
	}
	return w.done.Sub(start).Seconds(), nil
}
