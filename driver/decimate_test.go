package driver

import (
	"testing"
	"time"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// evenly returns n samples one second apart whose "i" metric is the index
// and "c" a constant.
func evenly(n int) []Stat {
	out := make([]Stat, n)
	for i := range out {
		out[i] = Stat{Timestamp: t0.Add(time.Duration(i) * time.Second), Metrics: map[string]uint64{"i": uint64(i), "c": 7}}
	}
	return out
}

func TestDecimateEvenlySpaced(t *testing.T) {
	for _, tc := range []struct{ n int }{{480}, {700}, {300}} {
		in := evenly(tc.n)
		out := Decimate(240, in)
		if len(out) != 240 {
			t.Fatalf("n=%d: got %d points, want 240", tc.n, len(out))
		}
		// Recompute every window from a fresh copy: the metric "i" of each
		// point must be the mean index of the samples it replaced and its
		// timestamp their mean time, and together they must use every
		// sample exactly once, in order.
		next := 0
		for k, p := range out {
			// Samples in window k are those with floor(i*240/n) == k.
			lo := next
			for next < tc.n && next*240/tc.n == k {
				next++
			}
			cnt := next - lo
			if cnt == 0 {
				t.Fatalf("n=%d: window %d empty, but evenly spaced input fills every window", tc.n, k)
			}
			sumIdx := (lo + next - 1) * cnt / 2
			if got, want := p.Metrics["i"], uint64(sumIdx/cnt); got != want {
				t.Errorf("n=%d point %d: metric i = %d, want %d (mean of samples %d..%d)", tc.n, k, got, want, lo, next-1)
			}
			if p.Metrics["c"] != 7 {
				t.Errorf("n=%d point %d: constant metric = %d, want 7", tc.n, k, p.Metrics["c"])
			}
			wantTS := t0.Add(time.Duration(lo+next-1) * time.Second / 2)
			if !p.Timestamp.Equal(wantTS) {
				t.Errorf("n=%d point %d: timestamp %v, want %v", tc.n, k, p.Timestamp, wantTS)
			}
		}
		if next != tc.n {
			t.Fatalf("n=%d: points cover %d samples, want all", tc.n, next)
		}
	}
}

func TestDecimate480AveragesPairs(t *testing.T) {
	out := Decimate(240, evenly(480))
	for k, p := range out {
		// Samples 2k and 2k+1: mean index 2k (floor of 2k+0.5), mean time
		// 2k+0.5 s.
		if p.Metrics["i"] != uint64(2*k) {
			t.Fatalf("point %d: i = %d, want %d", k, p.Metrics["i"], 2*k)
		}
		if want := t0.Add(time.Duration(2*k)*time.Second + 500*time.Millisecond); !p.Timestamp.Equal(want) {
			t.Fatalf("point %d: timestamp %v, want %v", k, p.Timestamp, want)
		}
	}
}

func TestDecimateGap(t *testing.T) {
	// 150 samples a second apart, 20 minutes of nothing, 150 more.
	in := evenly(300)
	for i := 150; i < 300; i++ {
		in[i].Timestamp = in[i].Timestamp.Add(20 * time.Minute)
	}
	out := Decimate(240, in)
	if len(out) >= 120 {
		t.Fatalf("got %d points; a 20 minute gap in a 25 minute run should leave well under 240 (about 50)", len(out))
	}
	if len(out) < 10 {
		t.Fatalf("got %d points; the 300 seconds of samples should still give dozens", len(out))
	}
	for k := 1; k < len(out); k++ {
		if !out[k].Timestamp.After(out[k-1].Timestamp) {
			t.Fatalf("points %d and %d out of order: %v, %v", k-1, k, out[k-1].Timestamp, out[k].Timestamp)
		}
	}
	// No point may straddle the gap: each is within one half of the run.
	gapStart, gapEnd := in[149].Timestamp, in[150].Timestamp
	for k, p := range out {
		if p.Timestamp.After(gapStart) && p.Timestamp.Before(gapEnd) {
			t.Fatalf("point %d at %v lies inside the gap %v..%v: it averaged samples from both sides", k, p.Timestamp, gapStart, gapEnd)
		}
	}
}

func TestDecimateEdges(t *testing.T) {
	for _, tc := range []struct {
		name    string
		max, n  int
		wantLen int
		wantNil bool
	}{
		{name: "shorter than max returned as is", max: 240, n: 100, wantLen: 100},
		{name: "exactly max returned as is", max: 240, n: 240, wantLen: 240},
		{name: "empty", max: 240, n: 0, wantLen: 0},
		{name: "max 0 with longer input", max: 0, n: 5, wantNil: true},
		{name: "negative max", max: -1, n: 5, wantNil: true},
		{name: "max 1", max: 1, n: 50, wantLen: 1},
		{name: "two samples to one", max: 1, n: 2, wantLen: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := evenly(tc.n)
			out := Decimate(tc.max, in)
			if tc.wantNil {
				if out != nil {
					t.Fatalf("got %d points, want nil", len(out))
				}
				return
			}
			if len(out) != tc.wantLen {
				t.Fatalf("got %d points, want %d", len(out), tc.wantLen)
			}
			if tc.n <= tc.max && tc.n > 0 && &out[0] != &in[0] {
				t.Fatal("input no longer than max was copied, want it returned as is")
			}
		})
	}
}

func TestDecimateInPlace(t *testing.T) {
	in := evenly(480)
	out := Decimate(240, in)
	if &out[0] != &in[0] {
		t.Fatal("result does not share the input's backing array")
	}
	if cap(out) != cap(in) {
		t.Fatalf("result cap %d, want the input's %d", cap(out), cap(in))
	}
}

func TestDecimateNeverMoreThanMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   func() []Stat
	}{
		{"identical timestamps", func() []Stat {
			s := evenly(500)
			for i := range s {
				s[i].Timestamp = t0
			}
			return s
		}},
		{"unsorted", func() []Stat {
			s := evenly(500)
			for i := 0; i+1 < len(s); i += 2 {
				s[i], s[i+1] = s[i+1], s[i]
			}
			return s
		}},
		{"reversed", func() []Stat {
			s := evenly(500)
			for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
				s[i], s[j] = s[j], s[i]
			}
			return s
		}},
		{"uneven bursts", func() []Stat {
			s := evenly(1000)
			for i := range s {
				s[i].Timestamp = t0.Add(time.Duration(i*i) * time.Millisecond)
			}
			return s
		}},
	} {
		for _, max := range []int{1, 7, 240} {
			if out := Decimate(max, tc.in()); len(out) > max || len(out) == 0 {
				t.Errorf("%s, max %d: got %d points", tc.name, max, len(out))
			}
		}
	}
}

func TestDecimateMetrics(t *testing.T) {
	big := ^uint64(0) - 1
	in := []Stat{
		{Timestamp: t0, Metrics: map[string]uint64{"big": big, "some": 10}},
		{Timestamp: t0.Add(time.Second), Metrics: map[string]uint64{"big": big}},
		{Timestamp: t0.Add(2 * time.Second), Metrics: map[string]uint64{"big": big, "some": 20}},
		{Timestamp: t0.Add(3 * time.Second), Metrics: map[string]uint64{"big": 0}},
	}
	out := Decimate(1, in)
	if len(out) != 1 {
		t.Fatalf("got %d points, want 1", len(out))
	}
	if got, want := out[0].Metrics["big"], big/4*3+(big%4*3)/4; got != want {
		t.Errorf("big = %d, want %d (averaging must not overflow)", got, want)
	}
	if got := out[0].Metrics["some"]; got != 15 {
		t.Errorf("metric present in 2 of 4 samples = %d, want their mean 15", got)
	}
	if want := t0.Add(1500 * time.Millisecond); !out[0].Timestamp.Equal(want) {
		t.Errorf("timestamp %v, want %v", out[0].Timestamp, want)
	}
}
