package main

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Markers around the part of the report file the harness rewrites; text
// outside them (analysis, history) is kept.
const (
	beginMarker = "<!-- BEGIN make bench output: generated, edits between these markers are overwritten -->"
	endMarker   = "<!-- END make bench output -->"
)

// report is what runAll prints and writes.
type report struct {
	table      string   // results table for the terminal
	doc        string   // the generated markdown section, markers included
	benchLines []string // the machine-readable last lines
}

func (h *harness) markdown() report {
	var rep report
	var t strings.Builder
	t.WriteString("| benchmark | unit | jetrun median [min, max] | baseline median [min, max] | ratio | per-repeat ratios [min, max] | target | |\n")
	t.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, r := range h.results {
		if len(r.Jetrun) == 0 {
			continue
		}
		j, b, rr := summarize(r.Jetrun), summarize(r.Baseline), summarize(r.RepeatRatios())
		fmt.Fprintf(&t, "| %s | %s | %s | %s | **%.3f** | [%.3f, %.3f] | %.2f | %s |\n",
			r.Name, r.Unit, fmtSpread(j), fmtSpread(b), r.Ratio(), rr.Min, rr.Max, r.Target, metWord(r.Met()))
		rep.benchLines = append(rep.benchLines, fmt.Sprintf("BENCH %s ratio=%.3f target=%.2f", r.Name, r.Ratio(), r.Target))
	}
	for _, r := range h.results {
		if len(r.Extra) == 0 {
			continue
		}
		t.WriteString("\n| " + r.Name + " | median [min, max] over repeats |\n|---|---|\n")
		line := fmt.Sprintf("BENCH %s ratio=n/a target=n/a", r.Name)
		for _, e := range r.Extra {
			s := summarize(e.Vals)
			fmt.Fprintf(&t, "| %s | %s %s |\n", e.Label, fmtSpread(s), e.Unit)
			line += fmt.Sprintf(" %s=%.1f", e.Key, s.Median)
		}
		rep.benchLines = append(rep.benchLines, line)
	}
	rep.table = t.String()

	var d strings.Builder
	d.WriteString(beginMarker + "\n\n")
	d.WriteString("## Latest run\n\n")
	fmt.Fprintf(&d, "- When: %s, took %s; commit %s\n", h.started.UTC().Format(time.RFC3339), time.Since(h.started).Round(time.Second), gitDescribe())
	if len(h.cfg.args) == 0 {
		d.WriteString("- Command: `make bench` (that is `go run ./bench`)\n")
	} else {
		fmt.Fprintf(&d, "- Command: `make bench BENCHFLAGS='%s'` (that is `go run ./bench %[1]s`)\n", strings.Join(h.cfg.args, " "))
	}
	fmt.Fprintf(&d, "- Machine: %d CPUs (%s), GOMAXPROCS %d, %s, %s/%s", runtime.NumCPU(), cpuModel(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if h.dockerV != "" {
		fmt.Fprintf(&d, ", %s", h.dockerV)
	}
	d.WriteString("\n")
	fmt.Fprintf(&d, "- Repeats: %d per benchmark, jetrun and baseline interleaved (repeats, rounds or single samples alternate: see \"How it stays fair\" below); every measured run gets a fresh in-process NATS server with its store in a new directory\n", h.cfg.repeats)
	d.WriteString("- Load average (1, 5, 15 min) around each benchmark: ")
	for i, l := range h.loads {
		if i > 0 {
			d.WriteString("; ")
		}
		fmt.Fprintf(&d, "%s %s → %s", l.Bench, l.Before, l.After)
	}
	d.WriteString("\n\n")
	d.WriteString("Ratio = jetrun's speed / the baseline's speed (for a time: baseline / jetrun), from the medians; higher is better, and a target is met when ratio ≥ target.\n\n")
	d.WriteString(rep.table)
	d.WriteString("\nWhat each side measured:\n\n")
	for _, r := range h.results {
		fmt.Fprintf(&d, "- **%s**: jetrun: %s.", r.Name, r.JetrunWhat)
		if r.BaselineWhat != "" {
			fmt.Fprintf(&d, " Baseline: %s.", r.BaselineWhat)
		}
		for _, n := range r.Notes {
			d.WriteString(" " + n)
		}
		d.WriteString("\n")
	}
	d.WriteString("\n<details><summary>The whole output of this run</summary>\n\n```\n")
	d.WriteString(strings.TrimSpace(h.transcript.String()) + "\n\n")
	for _, l := range rep.benchLines {
		d.WriteString(l + "\n")
	}
	d.WriteString("```\n\n</details>\n\n" + endMarker + "\n")
	rep.doc = d.String()
	return rep
}

func fmtSpread(s spread) string {
	if s.N == 0 || math.IsNaN(s.Median) {
		return "-"
	}
	return fmt.Sprintf("%s [%s, %s]", num(s.Median), num(s.Min), num(s.Max))
}

// num prints a figure with 3 significant digits or more.
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// writeReport replaces the generated section of path (between the
// markers) with section, keeping everything else; a file without markers
// gets the section appended, a missing file is created with a heading.
func writeReport(path, section string) error {
	old, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	content := string(old)
	b, e := strings.Index(content, beginMarker), strings.Index(content, endMarker)
	switch {
	case len(old) == 0:
		content = "# Benchmarks\n\n" + section
	case b >= 0 && e > b:
		content = content[:b] + section + content[e+len(endMarker)+1:]
	default:
		content = strings.TrimRight(content, "\n") + "\n\n" + section
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown model"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown model"
}

// gitDescribe names the checked-out commit, "+ local changes" when the
// tree differs from it.
func gitDescribe() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if err := exec.Command("git", "diff", "--quiet", "HEAD").Run(); err != nil {
		s += " + local changes"
	}
	return s
}
