package driver

import (
	"math/bits"
	"time"
)

// Decimate down-samples stats to at most max points by averaging samples
// together: with max=240, 240 samples come back as they are, and 480 evenly
// spaced samples come back as 240 points, each the average of two
// neighbours (metrics and timestamps).
//
// Time is cut into max equal windows and the samples of each non-empty
// window are averaged into one point; a metric missing from some samples of
// a window is averaged over the samples that have it. Each sample stands for
// the interval up to the next one, so n samples spanning first..last cover
// (last-first)·n/(n-1) and each window is that cover divided by max (about
// (last-first)/max). Empty windows give nothing, so large gaps in time give a
// shorter list, which accounts for the lost samples.
//
// Input no longer than max is returned as it is; max <= 0 with a longer input
// gives nil; the result never has more than max points. Decimate works in
// place: it overwrites stats (it is not copy safe) and returns a prefix of
// it. Input must be sorted by timestamp; a sample older than its predecessor
// is counted in its predecessor's window, so unsorted input gives a coarse
// result but still at most max points.
func Decimate(max int, stats []Stat) []Stat {
	if len(stats) <= max {
		return stats
	}
	if max <= 0 {
		return nil
	}
	n := len(stats)
	first := stats[0].Timestamp
	span := stats[n-1].Timestamp.Sub(first)
	// cover is the time the samples stand for, in nanoseconds, as a float so
	// that long spans cannot overflow.
	cover := float64(span) * float64(n) / float64(n-1)
	window := func(t time.Time) int {
		if cover <= 0 {
			return 0
		}
		// The nudge keeps a sample that lies exactly on a window boundary
		// (as evenly spaced samples do) from falling short of it by a
		// rounding error.
		w := int(float64(t.Sub(first))/cover*float64(max) + 1e-9)
		if w < 0 {
			return 0
		}
		if w >= max {
			return max - 1
		}
		return w
	}
	// windowAfter keeps windows non-decreasing even for unsorted input.
	windowAfter := func(t time.Time, prev int) int {
		if w := window(t); w > prev {
			return w
		}
		return prev
	}

	out, prev := 0, 0
	for i := 0; i < n; {
		w := windowAfter(stats[i].Timestamp, prev)
		base := stats[i].Timestamp
		var offset time.Duration // sum of offsets from base, within one window
		acc := make(map[string]*sum)
		j := i
		for ; j < n && windowAfter(stats[j].Timestamp, w) == w; j++ {
			offset += stats[j].Timestamp.Sub(base)
			for k, v := range stats[j].Metrics {
				s := acc[k]
				if s == nil {
					s = new(sum)
					acc[k] = s
				}
				s.add(v)
			}
		}
		metrics := make(map[string]uint64, len(acc))
		for k, s := range acc {
			metrics[k] = s.mean()
		}
		// Every sample of this window has been read, so slot out <= i is
		// free to overwrite.
		stats[out] = Stat{Timestamp: base.Add(offset / time.Duration(j-i)), Metrics: metrics}
		out++
		prev = w
		i = j
	}
	return stats[:out]
}

// sum is a 128-bit running total of uint64 values and their count, so that
// averaging large cumulative counters cannot overflow.
type sum struct {
	hi, lo, n uint64
}

func (s *sum) add(v uint64) {
	var carry uint64
	s.lo, carry = bits.Add64(s.lo, v, 0)
	s.hi += carry
	s.n++
}

// mean is the floor of the average; it fits in a uint64 because every value
// did, so hi < n and bits.Div64 cannot panic.
func (s *sum) mean() uint64 {
	q, _ := bits.Div64(s.hi, s.lo, s.n)
	return q
}
