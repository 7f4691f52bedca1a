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
)

var allBenchmarks = []string{benchPipeline, benchLatency, benchThroughput, benchLogs, benchMemory}

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
	switch {
	case c.repeats < 1 || c.repeats > 20:
		return nil, fmt.Errorf("-repeats %d: want 1 to 20", c.repeats)
	case c.pipelineTasks < 1 || c.pipelineTasks > 1_000_000:
		return nil, fmt.Errorf("-pipeline-tasks %d: want 1 to 1000000", c.pipelineTasks)
	case c.pipelineConcurrency < 1 || c.pipelineConcurrency > 10000:
		return nil, fmt.Errorf("-pipeline-concurrency %d: want 1 to 10000", c.pipelineConcurrency)
	case c.latencySamples < 1 || c.latencySamples > 1000:
		return nil, fmt.Errorf("-latency-samples %d: want 1 to 1000", c.latencySamples)
	case c.throughputTasks < 1 || c.throughputTasks > 1000:
		return nil, fmt.Errorf("-throughput-tasks %d: want 1 to 1000", c.throughputTasks)
	case c.throughputConc < 1 || c.throughputConc > 64:
		return nil, fmt.Errorf("-throughput-concurrency %d: want 1 to 64", c.throughputConc)
	case c.logsMiB < 1 || c.logsMiB > 1024:
		return nil, fmt.Errorf("-logs-mib %d: want 1 to 1024", c.logsMiB)
	case c.memoryTasks < 1 || c.memoryTasks > 256:
		return nil, fmt.Errorf("-memory-tasks %d: want 1 to 256", c.memoryTasks)
	case c.timeout <= 0:
		return nil, fmt.Errorf("-timeout %v: want a positive duration", c.timeout)
	}
	return c, nil
}

// selected reports whether benchmark name is to run.
func (c *config) selected(name string) bool { return slices.Contains(c.only, name) }
