package main

import (
	"math"
	"slices"
)

// spread summarises repeated measurements: their median and extremes.
type spread struct {
	Median, Min, Max float64
	N                int
}

// summarize returns the median, min and max of xs (zeros when empty).
func summarize(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return spread{Median: median(s), Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// median of sorted xs: the middle value, or the mean of the two middle
// values.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// percentile of xs by nearest rank, p in [0, 100].
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// result is one benchmark's measurements: one figure per repeat for each
// side, in the benchmark's unit.
type result struct {
	Name   string
	Unit   string
	Lower  bool // the unit is a time: lower is better
	Target float64
	// What each side measured, for the report.
	JetrunWhat, BaselineWhat string
	Jetrun, Baseline         []float64
	// Extra holds figures without a baseline (memory), by label, one per
	// repeat.
	Extra []extra
	Notes []string
}

type extra struct {
	Key   string // in the BENCH line, e.g. idle_rss_mib
	Label string
	Unit  string
	Vals  []float64
}

// ratio of one jetrun figure to one baseline figure, as speed over speed:
// higher is better.
func (r *result) ratioOf(jet, base float64) float64 {
	if jet <= 0 || base <= 0 {
		return math.NaN()
	}
	if r.Lower {
		return base / jet
	}
	return jet / base
}

// Ratio is the ratio of the medians.
func (r *result) Ratio() float64 {
	if len(r.Jetrun) == 0 || len(r.Baseline) == 0 {
		return math.NaN()
	}
	return r.ratioOf(summarize(r.Jetrun).Median, summarize(r.Baseline).Median)
}

// RepeatRatios are the ratios of each repeat's pair, which show how much
// the ratio moved between repeats.
func (r *result) RepeatRatios() []float64 {
	var out []float64
	for i := range min(len(r.Jetrun), len(r.Baseline)) {
		out = append(out, r.ratioOf(r.Jetrun[i], r.Baseline[i]))
	}
	return out
}

// Met reports whether the ratio reaches the target.
func (r *result) Met() bool { return r.Ratio() >= r.Target }
