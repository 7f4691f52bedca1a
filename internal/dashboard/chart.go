package dashboard

import (
	"fmt"
	"html/template"
	"strings"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

// chart is a small server-drawn SVG chart with a text summary (its
// accessible name, and what the page shows without images).
type chart struct {
	Title   string
	Summary string
	SVG     template.HTML
}

const (
	chartW, chartH = 360.0, 80.0
	chartPad       = 2.0
)

// lineSVG draws ys (at xs, seconds from the first) as a line; the SVG
// holds numbers only and the escaped label.
func lineSVG(label string, xs, ys []float64) template.HTML {
	maxX, maxY := 0.0, 0.0
	for i := range xs {
		maxX, maxY = max(maxX, xs[i]), max(maxY, ys[i])
	}
	if maxX == 0 {
		maxX = 1
	}
	if maxY == 0 {
		maxY = 1
	}
	var pts strings.Builder
	for i := range xs {
		x := chartPad + xs[i]/maxX*(chartW-2*chartPad)
		y := chartH - chartPad - ys[i]/maxY*(chartH-2*chartPad)
		fmt.Fprintf(&pts, "%.1f,%.1f ", x, y)
	}
	return template.HTML(fmt.Sprintf(`<svg class="chart" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="%s">`+
		`<polyline fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke" points="%s"/></svg>`,
		chartW, chartH, template.HTMLEscapeString(label), strings.TrimSpace(pts.String())))
}

// barsSVG draws counts as bars, oldest first.
func barsSVG(label string, counts []uint64) template.HTML {
	var top uint64 = 1
	for _, c := range counts {
		top = max(top, c)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart bars" viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="%s">`, chartW, chartH, template.HTMLEscapeString(label))
	if n := len(counts); n > 0 {
		w := chartW / float64(n)
		for i, c := range counts {
			h := float64(c) / float64(top) * (chartH - chartPad)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="currentColor"/>`, float64(i)*w, chartH-h, max(w-1, 0.5), h)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// statCharts are a task's memory and CPU over time, from its samples.
func statCharts(stats []messages.Stat) []chart {
	if len(stats) == 0 {
		return nil
	}
	t0 := stats[0].Time
	var xs, mem, cpuX, cpu []float64
	var peakMem, peakCPU float64
	for i, s := range stats {
		x := s.Time.Sub(t0).Seconds()
		m := float64(s.Metrics[driver.MetricMemUsage]) / (1 << 20)
		xs, mem = append(xs, x), append(mem, m)
		peakMem = max(peakMem, m)
		if i > 0 {
			dt := s.Time.Sub(stats[i-1].Time)
			prev, cur := stats[i-1].Metrics[driver.MetricCPUTotal], s.Metrics[driver.MetricCPUTotal]
			if dt > 0 && cur >= prev {
				c := float64(cur-prev) / float64(dt) * 100
				cpuX, cpu = append(cpuX, x), append(cpu, c)
				peakCPU = max(peakCPU, c)
			}
		}
	}
	span := stats[len(stats)-1].Time.Sub(t0).Round(100 * time.Millisecond)
	out := []chart{{
		Title:   "Memory",
		Summary: fmt.Sprintf("peak %.1f MiB, %d samples over %v", peakMem, len(stats), span),
		SVG:     lineSVG("memory over time", xs, mem),
	}}
	if len(cpu) > 0 {
		out = append(out, chart{
			Title:   "CPU",
			Summary: fmt.Sprintf("peak %.0f%% of one CPU", peakCPU),
			SVG:     lineSVG("CPU over time", cpuX, cpu),
		})
	}
	return out
}
