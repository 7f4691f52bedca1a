package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/jetrun/jetrun/messages"
)

// deadCollector reports the dead-letter stream at each scrape, from the
// stream's own state: how many dead letters it holds, their bytes, and
// how many it dropped by retention (age or size): every message it ever
// stored less those it holds less those a purge or a retry removed
// (messages.Subjects.DeadPurgedCounter). Every worker reports the same
// stream, so aggregate with max, not sum.
type deadCollector struct {
	held, bytes, dropped *prometheus.Desc

	mu       sync.Mutex
	read     func(context.Context) (deadState, error) // nil until the worker binds its streams
	maxDrops uint64                                   // the counter never goes down within a process
}

type deadState struct{ msgs, bytes, dropped uint64 }

func newDeadCollector() *deadCollector {
	return &deadCollector{
		held:    prometheus.NewDesc("jetrun_dead_letters", "Dead letters JETRUN_DEAD holds.", nil, nil),
		bytes:   prometheus.NewDesc("jetrun_dead_letters_bytes", "Bytes JETRUN_DEAD holds.", nil, nil),
		dropped: prometheus.NewDesc("jetrun_dead_letters_dropped_total", "Dead letters JETRUN_DEAD dropped by its retention (max age or max bytes), not by a purge or retry.", nil, nil),
	}
}

func (c *deadCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.held
	ch <- c.bytes
	ch <- c.dropped
}

func (c *deadCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	read := c.read
	c.mu.Unlock()
	if read == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	s, err := read(ctx)
	if err != nil {
		return // the scrape shows the series missing, not a made-up value
	}
	c.mu.Lock()
	c.maxDrops = max(c.maxDrops, s.dropped)
	drops := c.maxDrops
	c.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(c.held, prometheus.GaugeValue, float64(s.msgs))
	ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(s.bytes))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(drops))
}

// bind makes c read dead and the purge counter in counters.
func (c *deadCollector) bind(dead, counters jetstream.Stream, subj messages.Subjects) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.read = func(ctx context.Context) (deadState, error) {
		info, err := dead.Info(ctx)
		if err != nil {
			return deadState{}, err
		}
		purged, err := readCounter(ctx, counters, subj.DeadPurgedCounter())
		if err != nil {
			return deadState{}, err
		}
		st := info.State
		gone := st.LastSeq - st.Msgs
		var dropped uint64
		if gone > purged {
			dropped = gone - purged
		}
		return deadState{msgs: st.Msgs, bytes: st.Bytes, dropped: dropped}, nil
	}
}

// readCounter returns the value of JetStream counter subject in st
// (CountersStream): 0 when it was never incremented.
func readCounter(ctx context.Context, st jetstream.Stream, subject string) (uint64, error) {
	m, err := st.GetLastMsgForSubject(ctx, subject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v struct {
		Val string `json:"val"`
	}
	if err := json.Unmarshal(m.Data, &v); err != nil {
		return 0, err
	}
	return strconv.ParseUint(v.Val, 10, 64)
}
