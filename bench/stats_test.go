package main

import (
	"math"
	"testing"
)

func TestSummarize(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want spread
	}{
		{nil, spread{}},
		{[]float64{3}, spread{Median: 3, Min: 3, Max: 3, N: 1}},
		{[]float64{5, 1, 3}, spread{Median: 3, Min: 1, Max: 5, N: 3}},
		{[]float64{4, 1, 3, 2}, spread{Median: 2.5, Min: 1, Max: 4, N: 4}},
	} {
		if got := summarize(tc.in); got != tc.want {
			t.Errorf("summarize(%v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	xs := []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}
	for p, want := range map[float64]float64{0: 1, 10: 1, 50: 5, 90: 9, 100: 10} {
		if got := percentile(xs, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if !math.IsNaN(percentile(nil, 50)) {
		t.Error("percentile of nothing should be NaN")
	}
}

// A ratio is always "higher is better": speed over speed, or for a time,
// baseline time over jetrun time.
func TestRatio(t *testing.T) {
	speed := &result{Jetrun: []float64{50, 40, 60}, Baseline: []float64{100, 100, 100}, Target: 0.5}
	if got := speed.Ratio(); got != 0.5 || !speed.Met() {
		t.Errorf("speed ratio = %v met=%v, want 0.5 met", got, speed.Met())
	}
	lat := &result{Lower: true, Jetrun: []float64{110, 120}, Baseline: []float64{100, 100}, Target: 0.91}
	if got := lat.Ratio(); math.Abs(got-100/115.0) > 1e-9 || lat.Met() {
		t.Errorf("latency ratio = %v met=%v, want %v not met", got, lat.Met(), 100/115.0)
	}
	if got := lat.RepeatRatios(); len(got) != 2 || math.Abs(got[0]-100/110.0) > 1e-9 {
		t.Errorf("repeat ratios = %v", got)
	}
	if !math.IsNaN((&result{}).Ratio()) {
		t.Error("ratio without figures should be NaN")
	}
}
