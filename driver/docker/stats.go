package docker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/docker/docker/api/types/container"

	"github.com/jetrun/jetrun/driver"
)

// statsBuffer is how many samples wait for a slow WriteStat before new
// ones are dropped.
const statsBuffer = 4

// collectStats streams the container's stats (the daemon samples about
// once a second) to the task's WriteStat from one goroutine. A slow
// WriteStat never holds up the stream: samples that find the buffer full
// are dropped and counted. The returned stop ends collection and waits
// until WriteStat is no longer called; it may be called many times.
func (c *cookie) collectStats(ctx context.Context, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	samples := make(chan driver.Stat, statsBuffer)
	var dropped atomic.Int64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // reader
		defer wg.Done()
		defer close(samples)
		resp, err := c.d.cli.ContainerStats(ctx, c.id, true)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("container stats unavailable", "err", err)
			}
			return
		}
		defer resp.Body.Close()
		dec := json.NewDecoder(resp.Body)
		for {
			var s container.StatsResponse
			if err := dec.Decode(&s); err != nil {
				if ctx.Err() == nil && !errors.Is(err, io.EOF) {
					log.Debug("container stats stream ended", "err", err)
				}
				return
			}
			if s.Read.IsZero() {
				continue // the daemon's placeholder for a stopped container
			}
			select {
			case samples <- toStat(&s):
			default:
				dropped.Add(1)
			}
		}
	}()
	go func() { // writer: the only caller of WriteStat
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case s, ok := <-samples:
				if !ok {
					return
				}
				c.task.WriteStat(s)
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			if n := dropped.Load(); n > 0 {
				log.Info("dropped stats samples for a slow consumer", "dropped", n)
			}
		})
	}
}

// toStat converts one Docker stats sample into jetrun's metrics.
func toStat(s *container.StatsResponse) driver.Stat {
	m := map[string]uint64{
		driver.MetricCPUTotal: s.CPUStats.CPUUsage.TotalUsage,
		driver.MetricMemUsage: memoryUsage(&s.MemoryStats),
		driver.MetricMemLimit: s.MemoryStats.Limit,
		driver.MetricPids:     s.PidsStats.Current,
	}
	var rx, tx uint64
	for _, n := range s.Networks {
		rx += n.RxBytes
		tx += n.TxBytes
	}
	m[driver.MetricNetRx], m[driver.MetricNetTx] = rx, tx
	var read, write uint64
	for _, e := range s.BlkioStats.IoServiceBytesRecursive {
		switch strings.ToLower(e.Op) {
		case "read":
			read += e.Value
		case "write":
			write += e.Value
		}
	}
	m[driver.MetricDiskRead], m[driver.MetricDiskWrite] = read, write
	return driver.Stat{Timestamp: s.Read, Metrics: m}
}

// memoryUsage is the usage without the reclaimable page cache, as "docker
// stats" shows it (cgroup v1 reports total_inactive_file, v2 inactive_file).
func memoryUsage(m *container.MemoryStats) uint64 {
	cache, ok := m.Stats["total_inactive_file"]
	if !ok {
		cache = m.Stats["inactive_file"]
	}
	if cache > m.Usage {
		return m.Usage
	}
	return m.Usage - cache
}
