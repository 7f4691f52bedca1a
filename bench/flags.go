package main

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Benchmark names, in the order they run.
const (
	benchPipeline   = "pipeline"
	benchLatency    = "latency"
	benchThroughput = "throughput"
	benchLogs       = "logs"
	benchMemory     = "memory"
	benchInventory  = "inventory"
	benchDashboard  = "dashboard"
	benchArtifacts  = "artifacts"
)

var allBenchmarks = []string{benchPipeline, benchLatency, benchThroughput, benchLogs, benchMemory, benchInventory, benchDashboard, benchArtifacts}

// config is the parsed command line.
type config struct {
	only    []string
	repeats int
	out     string
	profDir string
	timeout time.Duration

	pipelineTasks       int
	pipelineConcurrency int
	latencySamples      int
	throughputTasks     int
	throughputConc      int
	logsMiB             int
	memoryTasks         int
	inventoryTasks      int
	dashboardTasks      int
	artifactsMiB        int
	args                []string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{args: args}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(allBenchmarks, ","), "comma-separated benchmarks to run: "+strings.Join(allBenchmarks, ", "))
	fs.IntVar(&c.repeats, "repeats", 3, "repeats of each benchmark, jetrun and baseline interleaved")
	fs.StringVar(&c.out, "out", "docs/benchmarks.md", "markdown report to update (between its generated markers); empty: none")
	fs.StringVar(&c.profDir, "cpuprofile", "", "directory for CPU profiles of this process (worker, client and NATS server) during each jetrun repeat")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Minute, "bound on the whole run")
	fs.IntVar(&c.pipelineTasks, "pipeline-tasks", 20000, "tasks per pipeline repeat")
	fs.IntVar(&c.pipelineConcurrency, "pipeline-concurrency", 256, "worker concurrency in the pipeline benchmark")
	fs.IntVar(&c.latencySamples, "latency-samples", 20, "containers per latency repeat, each side")
	fs.IntVar(&c.throughputTasks, "throughput-tasks", 80, "containers per throughput repeat, each side")
	fs.IntVar(&c.throughputConc, "throughput-concurrency", 4, "containers at once in the throughput benchmark")
	fs.IntVar(&c.logsMiB, "logs-mib", 100, "MiB the container writes to stdout in the logs benchmark")
	fs.IntVar(&c.memoryTasks, "memory-tasks", 16, "running tasks while measuring the busy worker's memory")
	fs.IntVar(&c.inventoryTasks, "inventory-tasks", 100000, "finished tasks in the index the inventory benchmark lists")
	fs.IntVar(&c.dashboardTasks, "dashboard-tasks", 100000, "finished tasks stored under the dashboard's task list")
	fs.IntVar(&c.artifactsMiB, "artifacts-mib", 200, "MiB of the file the artifacts benchmark sends through a task and back")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, name := range strings.Split(*only, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allBenchmarks, name) {
			return nil, fmt.Errorf("-only: unknown benchmark %q (have %s)", name, strings.Join(allBenchmarks, ", "))
		}
		c.only = append(c.only, name)
	}
	for _, b := range []struct {
		flag      string
		v, lo, hi int
	}{
		{"repeats", c.repeats, 1, 20},
		{"pipeline-tasks", c.pipelineTasks, 1, 1_000_000},
		{"pipeline-concurrency", c.pipelineConcurrency, 1, 10000},
		{"latency-samples", c.latencySamples, 1, 1000},
		{"throughput-tasks", c.throughputTasks, 1, 1000},
		{"inventory-tasks", c.inventoryTasks, 1000, 1_000_000},
		{"throughput-concurrency", c.throughputConc, 1, 64},
		{"logs-mib", c.logsMiB, 1, 1024},
		{"memory-tasks", c.memoryTasks, 1, 256},
		{"artifacts-mib", c.artifactsMiB, 1, 2048},
	} {
		if b.v < b.lo || b.v > b.hi {
			return nil, fmt.Errorf("-%s %d: want %d to %d", b.flag, b.v, b.lo, b.hi)
		}
	}
	if c.timeout <= 0 {
		return nil, fmt.Errorf("-timeout %v: want a positive duration", c.timeout)
	}
	return c, nil
}

// selected reports whether benchmark name is to run.
func (c *config) selected(name string) bool { return slices.Contains(c.only, name) }
