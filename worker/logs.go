package worker

import (
	"sync"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// output collects a task's stdout and stderr and its stats without ever
// blocking the driver: writes only append to a buffer bounded by the log
// cap (bytes past it are counted, not kept), and one goroutine (run)
// publishes chunks of at most LogChunkSize bytes, at least every
// LogFlushInterval, numbered by seq across both streams.
type output struct {
	ev        *events
	chunk     int
	cap       int64
	statEvery time.Duration

	mu       sync.Mutex
	segs     []segment // output not yet published, in write order
	buffered int
	accepted int64 // bytes kept (published or about to be)
	dropped  int64
	stats    []driver.Stat
	lastStat time.Time
	statOut  *driver.Stat // newest sample not yet forwarded
	kick     chan struct{}

	seq uint64 // owned by run
}

type segment struct {
	stream string
	data   []byte
}

func newOutput(ev *events, c Config) *output {
	return &output{ev: ev, chunk: c.LogChunkSize, cap: c.LogCap, statEvery: c.StatInterval, kick: make(chan struct{}, 1)}
}

// streamWriter is the io.Writer a driver gets for one stream.
type streamWriter struct {
	o      *output
	stream string
}

// Write keeps what fits under the cap and counts the rest as dropped. It
// never blocks on publishing and always reports len(p) written, so the
// container is never slowed or failed by its own output.
func (s streamWriter) Write(p []byte) (int, error) {
	o := s.o
	o.mu.Lock()
	keep := int64(len(p))
	if room := o.cap - o.accepted; keep > room {
		keep = max(room, 0)
	}
	o.dropped += int64(len(p)) - keep
	if keep > 0 {
		o.accepted += keep
		data := p[:keep]
		if n := len(o.segs); n > 0 && o.segs[n-1].stream == s.stream {
			o.segs[n-1].data = append(o.segs[n-1].data, data...)
		} else {
			o.segs = append(o.segs, segment{stream: s.stream, data: append([]byte(nil), data...)})
		}
		o.buffered += int(keep)
	}
	full := o.buffered >= o.chunk
	o.mu.Unlock()
	if full {
		select {
		case o.kick <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// writeStat keeps every sample for the result (decimated when many) and
// marks the newest for forwarding, at most one per statEvery.
func (o *output) writeStat(s driver.Stat) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.stats = append(o.stats, s)
	if len(o.stats) >= 8*resultStats {
		// Bound memory on very long tasks: keep a finer-than-needed
		// summary; the result decimates it again.
		o.stats = append([]driver.Stat(nil), driver.Decimate(4*resultStats, o.stats)...)
	}
	if s.Timestamp.Sub(o.lastStat) >= o.statEvery {
		o.lastStat = s.Timestamp
		st := s
		o.statOut = &st
	}
}

// resultStats is the most stat samples a Result carries.
const resultStats = 240

// run publishes until stop is closed, then publishes what is left.
func (o *output) run(stop <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			o.flush()
			return
		case <-t.C:
		case <-o.kick:
		}
		o.flush()
	}
}

// flush publishes buffered output in chunks and the pending stat sample.
func (o *output) flush() {
	o.mu.Lock()
	segs := o.segs
	o.segs, o.buffered = nil, 0
	st := o.statOut
	o.statOut = nil
	o.mu.Unlock()
	if st != nil {
		o.ev.send(messages.StatSubject(o.ev.reply), &messages.Stat{ID: o.ev.id, Time: st.Timestamp.UTC(), Metrics: st.Metrics}, false)
	}
	for _, sg := range segs {
		for data := sg.data; len(data) > 0; {
			n := min(len(data), o.chunk)
			o.ev.publish(messages.LogSubject(o.ev.reply), &messages.Log{
				ID: o.ev.id, Stream: sg.stream, Seq: o.seq, Data: data[:n], Attempt: o.ev.attempt,
			})
			o.seq++
			data = data[n:]
		}
	}
}

// totals returns the bytes kept and dropped, and the samples decimated for
// the result.
func (o *output) totals() (kept, dropped int64, stats []messages.Stat) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, s := range driver.Decimate(resultStats, o.stats) {
		stats = append(stats, messages.Stat{Time: s.Timestamp.UTC(), Metrics: s.Metrics})
	}
	return o.accepted, o.dropped, stats
}
