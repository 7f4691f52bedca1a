package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/messages"
)

const inspectAbout = `Shows everything the streams keep about one task: its state, its spec
(without its input bytes), every status transition with its time, worker
and attempt, its runs, its result with its log size and a summary of its
resource samples, and the tasks it retries or is retried by.`

// inspectCmd is submit inspect ID.
type inspectCmd struct {
	*command
	asJSON bool
}

func newInspectCmd(s ioStreams, g *globals) *inspectCmd {
	c := &inspectCmd{command: newCommand(s, g, "inspect", "submit inspect ID [--json]", inspectAbout, nil)}
	c.fs.BoolVar(&c.asJSON, "json", false, "print a JSON object for machines")
	return c
}

// inspectView is submit inspect --json.
type inspectView struct {
	taskView
	Spec       *messages.Task    `json:"spec,omitempty"`
	InputBytes int               `json:"input_bytes,omitempty"`
	Statuses   []messages.Status `json:"statuses"`
	Runs       int               `json:"runs"`
	Result     *messages.Result  `json:"result,omitempty"`
	RetriedAs  string            `json:"retried_as,omitempty"`
}

// Run prints one task.
func (c *inspectCmd) Run(ctx context.Context, args []string) error {
	id, nc, cl, err := c.byID(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	d, err := cl.Inspect(lctx, id)
	if errors.Is(err, client.ErrUnknownTask) {
		return &codeError{code: exitError, err: fmt.Errorf("task %s is not known: never submitted, or every record of it expired (check --prefix %q)", id, c.g.prefix)}
	}
	if err != nil {
		return explain(err, c.g.prefix)
	}
	if c.asJSON {
		v := inspectView{taskView: viewOf(d.TaskSummary), Spec: d.Spec, InputBytes: d.InputBytes, Statuses: d.Statuses,
			Runs: d.Runs, Result: d.Result, RetriedAs: d.RetriedAs}
		if v.Statuses == nil {
			v.Statuses = []messages.Status{}
		}
		return printJSON(c.stdout, v)
	}
	printDetail(c.stdout, d)
	return nil
}

func printDetail(w io.Writer, d *client.TaskDetail) {
	line := func(k, format string, a ...any) { fmt.Fprintf(w, "%-11s %s\n", k+":", fmt.Sprintf(format, a...)) }
	at := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Local().Format("2006-01-02 15:04:05.000")
	}
	line("Task", "%s", d.ID)
	line("Queue", "%s", dash(d.Queue))
	line("State", "%s", stateText(d.TaskSummary))
	if d.RetryOf != "" {
		line("Retry of", "%s", d.RetryOf)
	}
	if d.RetriedAs != "" {
		line("Retried as", "%s", d.RetriedAs)
	}
	line("Submitted", "%s", at(d.Submitted))
	line("Started", "%s", at(d.Started))
	line("Finished", "%s", at(d.Finished))
	line("Runs", "%d", d.Runs)
	if d.Dead {
		line("Dead letter", "kept in %s: submit retry %s runs it again", messages.DeadStream, d.ID)
	}
	if s := d.Spec; s != nil {
		fmt.Fprintln(w, "Spec:")
		fmt.Fprintf(w, "  image     %s\n", s.Image)
		if len(s.Cmd) > 0 {
			fmt.Fprintf(w, "  cmd       %q\n", s.Cmd)
		}
		for _, k := range slices.Sorted(maps.Keys(s.Env)) {
			fmt.Fprintf(w, "  env       %s=%s\n", k, s.Env[k])
		}
		if d.InputBytes > 0 {
			fmt.Fprintf(w, "  input     %d bytes (not shown)\n", d.InputBytes)
		}
		for _, v := range s.Volumes {
			fmt.Fprintf(w, "  volume    %s\n", strings.Join(v, ":"))
		}
		if s.TimeoutMS > 0 {
			fmt.Fprintf(w, "  timeout   %v\n", s.Timeout())
		}
		if s.Memory > 0 {
			fmt.Fprintf(w, "  memory    %s\n", driver.Memory(s.Memory))
		}
		if s.CPUs > 0 {
			fmt.Fprintf(w, "  cpus      %.3g\n", float64(s.CPUs)/1000)
		}
	} else {
		line("Spec", "not kept")
	}
	if len(d.Statuses) > 0 {
		fmt.Fprintln(w, "Statuses:")
		for _, s := range d.Statuses {
			fmt.Fprintf(w, "  %s  %-9s attempt %d on %s %s\n", at(s.Time), s.State, s.Attempt, dash(s.Worker), s.Detail)
		}
	}
	if r := d.Result; r != nil {
		fmt.Fprintln(w, "Result:")
		fmt.Fprintf(w, "  status    %s, exit code %d, attempt %d on %s\n", r.Status, r.ExitCode, r.Attempt, dash(r.Worker))
		if r.Error != "" {
			fmt.Fprintf(w, "  error     %s\n", r.Error)
		}
		fmt.Fprintf(w, "  output    %d bytes", r.LogBytes)
		if r.LogDropped > 0 {
			fmt.Fprintf(w, " (%d more dropped over the cap)", r.LogDropped)
		}
		fmt.Fprintln(w)
		if len(r.Stats) > 0 {
			var peakMem, cpu uint64
			for _, s := range r.Stats {
				peakMem = max(peakMem, s.Metrics[driver.MetricMemUsage])
				cpu = max(cpu, s.Metrics[driver.MetricCPUTotal])
			}
			fmt.Fprintf(w, "  stats     %d samples, peak memory %s, CPU time %v\n", len(r.Stats), driver.Memory(peakMem), time.Duration(cpu))
		}
	}
}
