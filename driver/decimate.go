package driver

import "time"

// Decimate down-samples stats to at most max points by averaging samples
// together. The span from the first to the last timestamp is cut into max
// windows of (last-first)/max; the samples of each non-empty window are
// averaged (metrics and timestamps) into one point, and empty windows give
// nothing, so large gaps between samples give a shorter list.
//
// Input no longer than max is returned as it is; max <= 0 with a longer input
// gives nil. Decimate works in place: it modifies stats (it is not copy
// safe) and returns a prefix of it. Input must be sorted by timestamp.
func Decimate(max int, stats []Stat) []Stat {
	if len(stats) <= max {
		return stats
	}
	if max <= 0 {
		return nil
	}
	first := stats[0].Timestamp
	span := stats[len(stats)-1].Timestamp.Sub(first)
	window := func(t time.Time) int {
		if span <= 0 {
			return 0
		}
		w := int(float64(t.Sub(first)) / float64(span) * float64(max))
		if w >= max {
			w = max - 1
		}
		if w < 0 {
			w = 0
		}
		return w
	}

	out := 0
	for i := 0; i < len(stats); {
		w := window(stats[i].Timestamp)
		j := i
		var offset time.Duration // sum of timestamps' offsets from first
		sums := make(map[string]uint64)
		counts := make(map[string]uint64)
		for ; j < len(stats) && window(stats[j].Timestamp) == w; j++ {
			offset += stats[j].Timestamp.Sub(first)
			for k, v := range stats[j].Metrics {
				sums[k] += v
				counts[k]++
			}
		}
		n := j - i
		for k := range sums {
			sums[k] /= counts[k]
		}
		// Every sample of this window is read; slot out <= i is free.
		stats[out] = Stat{Timestamp: first.Add(offset / time.Duration(n)), Metrics: sums}
		out++
		i = j
	}
	return stats[:out]
}
