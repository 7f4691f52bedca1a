package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jetrun/jetrun/client"
)

const statusAbout = `Shows what the event stream knows about task ID: its latest state
(preparing, pulling, running) or, once it finished, its result. Exits 1 when
nothing is stored for ID (not picked up by a worker yet, unknown, expired, or
submitted with --reply).`

// statusCmd is submit status: a task's latest state or result.
type statusCmd struct {
	*command
	asJSON bool
}

func newStatusCmd(s ioStreams, g *globals) *statusCmd {
	c := &statusCmd{command: newCommand(s, g, "status", "submit status [--json] ID", statusAbout, nil)}
	c.fs.BoolVar(&c.asJSON, "json", false, "print a JSON object for machines")
	return c
}

// Run prints what JETRUN_EVENTS holds for the task.
func (c *statusCmd) Run(ctx context.Context, args []string) error {
	id, nc, cl, err := c.byID(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ts, err := cl.Status(sctx, id)
	if err != nil {
		return lookupError(err, id, c.g.prefix)
	}
	view := newStatusView(id, ts)
	if c.asJSON {
		return printJSON(c.stdout, view)
	}
	view.print(c.stdout)
	return nil
}

// statusView is submit status's output; its JSON keys follow the wire
// protocol's.
type statusView struct {
	ID string `json:"id"`
	// State is the latest lifecycle state, or "finished".
	State   string      `json:"state"`
	Detail  string      `json:"detail,omitempty"`
	Worker  string      `json:"worker,omitempty"`
	Attempt int         `json:"attempt,omitempty"`
	Updated time.Time   `json:"updated,omitzero"`
	Result  *resultView `json:"result,omitempty"`
}

type resultView struct {
	Status     string     `json:"status"`
	ExitCode   int        `json:"exit_code"`
	Error      string     `json:"error,omitempty"`
	OOM        bool       `json:"oom,omitempty"`
	Worker     string     `json:"worker,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	Started    time.Time  `json:"started,omitzero"`
	Finished   time.Time  `json:"finished,omitzero"`
	DurationMS int64      `json:"duration_ms,omitempty"`
	LogBytes   int64      `json:"log_bytes"`
	LogDropped int64      `json:"log_dropped"`
	Stats      []statView `json:"stats,omitempty"`
}

type statView struct {
	Time    time.Time         `json:"time"`
	Metrics map[string]uint64 `json:"metrics"`
}

func newStatusView(id string, ts client.TaskStatus) statusView {
	v := statusView{ID: id}
	if s := ts.Status; s != nil {
		v.State, v.Detail, v.Worker, v.Attempt, v.Updated = s.State, s.Detail, s.Worker, s.Attempt, s.Time
	}
	if r := ts.Result; r != nil {
		v.State, v.Detail, v.Worker, v.Attempt = "finished", "", r.Worker, r.Attempt
		v.Updated = r.Finished
		rv := &resultView{
			Status: r.Status, ExitCode: r.ExitCode, Error: r.Error, OOM: r.OOM, Worker: r.Worker,
			Attempt: r.Attempt, Started: r.Started, Finished: r.Finished,
			LogBytes: r.LogBytes, LogDropped: r.LogDropped,
		}
		if !r.Started.IsZero() && !r.Finished.IsZero() {
			rv.DurationMS = r.Finished.Sub(r.Started).Milliseconds()
		}
		for _, st := range r.Stats {
			rv.Stats = append(rv.Stats, statView{Time: st.Time, Metrics: st.Metrics})
		}
		v.Result = rv
	}
	return v
}

// print writes v for a person, one field a line.
func (v statusView) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t"+format+"\n", append([]any{k}, a...)...) }
	row("task", "%s", v.ID)
	row("state", "%s", v.State)
	if v.Detail != "" {
		row("detail", "%s", v.Detail)
	}
	if v.Worker != "" {
		row("worker", "%s", v.Worker)
	}
	if v.Attempt > 0 {
		row("attempt", "%d", v.Attempt)
	}
	if r := v.Result; r != nil {
		row("result", "%s", r.Status)
		row("exit code", "%d", r.ExitCode)
		if r.OOM {
			row("oom", "true")
		}
		if r.Error != "" {
			row("error", "%s", r.Error)
		}
		if !r.Started.IsZero() {
			row("started", "%s", r.Started.Local().Format(time.RFC3339Nano))
		}
		row("finished", "%s", r.Finished.Local().Format(time.RFC3339Nano))
		if r.DurationMS > 0 || !r.Started.IsZero() {
			row("duration", "%s", (time.Duration(r.DurationMS) * time.Millisecond).String())
		}
		row("output", "%d bytes published, %d dropped", r.LogBytes, r.LogDropped)
		if n := len(r.Stats); n > 0 {
			row("stats", "%d samples (submit status --json shows them)", n)
		}
	} else if !v.Updated.IsZero() {
		row("since", "%s", v.Updated.Local().Format(time.RFC3339Nano))
	}
	tw.Flush()
}
