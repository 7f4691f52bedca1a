package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

const lsAbout = `Lists tasks, the most recently changed first: running ones (from the live
workers' leases), queued ones (JETRUN_TASKS) and finished ones (JETRUN_INDEX,
kept 7 days by default). A page is a few direct gets however many tasks are
stored; the last line says how to list the next page.

--dead lists the dead letters instead (JETRUN_DEAD): the failed and cancelled
tasks whose whole spec is kept, which submit retry runs again.`

// lsCmd is submit ls: the task inventory.
type lsCmd struct {
	*command
	state, queue, worker, before string
	since                        time.Duration
	limit                        int
	dead, asJSON                 bool
}

func newLsCmd(s ioStreams, g *globals) *lsCmd {
	c := &lsCmd{command: newCommand(s, g, "ls",
		"submit ls [--state queued|running|succeeded|failed|cancelled] [--queue Q] [--worker W] [--since DURATION] [--limit N] [--dead] [--json]",
		lsAbout, nil)}
	c.fs.StringVar(&c.state, "state", "", "only tasks in this state: queued, running, succeeded, failed or cancelled")
	c.fs.StringVar(&c.queue, "queue", "", "only this queue's tasks (default: every queue)")
	c.fs.StringVar(&c.worker, "worker", "", "only tasks this worker runs or finished")
	c.fs.DurationVar(&c.since, "since", 0, "only tasks changed within this long, e.g. 1h")
	c.fs.StringVar(&c.before, "before", "", "the next page: the cursor the last page printed")
	c.fs.IntVar(&c.limit, "limit", client.DefaultListLimit, fmt.Sprintf("tasks per page, at most %d", client.MaxListLimit))
	c.fs.BoolVar(&c.dead, "dead", false, "list the dead letters (failed and cancelled tasks that can be retried)")
	c.fs.BoolVar(&c.asJSON, "json", false, "print a JSON object {tasks, next} for machines")
	return c
}

// taskView is one task of submit ls --json.
type taskView struct {
	ID         string     `json:"id"`
	Queue      string     `json:"queue"`
	State      string     `json:"state"`
	Status     string     `json:"status,omitempty"`
	Worker     string     `json:"worker,omitempty"`
	Attempt    int        `json:"attempt,omitempty"`
	Submitted  *time.Time `json:"submitted,omitempty"`
	Started    *time.Time `json:"started,omitempty"`
	Finished   *time.Time `json:"finished,omitempty"`
	Updated    time.Time  `json:"updated"`
	DurationMS int64      `json:"duration_ms,omitempty"`
	ExitCode   *int       `json:"exit_code,omitempty"`
	Error      string     `json:"error,omitempty"`
	RetryOf    string     `json:"retry_of,omitempty"`
	Dead       bool       `json:"dead,omitempty"`
}

func viewOf(s client.TaskSummary) taskView {
	v := taskView{ID: s.ID, Queue: s.Queue, State: string(s.State), Status: s.Status, Worker: s.Worker, Attempt: s.Attempt,
		Submitted: timePtr(s.Submitted), Started: timePtr(s.Started), Finished: timePtr(s.Finished), Updated: s.Updated,
		DurationMS: s.Duration().Milliseconds(), Error: s.Error, RetryOf: s.RetryOf, Dead: s.Dead}
	if !s.Finished.IsZero() && s.Status != "" {
		code := s.ExitCode
		v.ExitCode = &code
	}
	return v
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// Run prints a page of tasks.
func (c *lsCmd) Run(ctx context.Context, args []string) error {
	if err := c.parseInterspersed(args); err != nil {
		return err
	}
	o := client.ListOptions{State: client.TaskState(c.state), Queue: c.queue, Worker: c.worker, Limit: c.limit, Dead: c.dead}
	switch {
	case len(c.args) != 0:
		return c.usage("takes no arguments, got %q", c.args)
	case c.state != "" && !messages.ValidState(c.state):
		return c.usage("--state %q is not one of queued, running, succeeded, failed, cancelled", c.state)
	case c.queue != "" && messages.ValidQueue(c.queue) != nil:
		return c.usage("--queue: %v", messages.ValidQueue(c.queue))
	case c.limit < 1 || c.limit > client.MaxListLimit:
		return c.usage("--limit %d is not within 1 and %d", c.limit, client.MaxListLimit)
	case c.since < 0:
		return c.usage("--since %v is negative", c.since)
	}
	if c.since > 0 {
		o.Since = time.Now().Add(-c.since)
	}
	if c.before != "" {
		t, err := time.Parse(time.RFC3339Nano, c.before)
		if err != nil {
			return c.usage("--before %q is not a cursor printed by submit ls (RFC 3339 time)", c.before)
		}
		o.Before = t
	}
	nc, cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	page, err := cl.List(lctx, o)
	if err != nil {
		return explain(err, c.g.prefix)
	}
	var next string
	if page.More {
		next = page.Next.Format(time.RFC3339Nano)
	}
	if c.asJSON {
		views := make([]taskView, 0, len(page.Tasks))
		for _, s := range page.Tasks {
			views = append(views, viewOf(s))
		}
		return printJSON(c.stdout, struct {
			Tasks []taskView `json:"tasks"`
			Next  string     `json:"next,omitempty"`
		}{views, next})
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUE\tSTATE\tWORKER\tATTEMPT\tAGE\tDURATION\tEXIT\tERROR")
	for _, s := range page.Tasks {
		age := "-"
		if !s.Submitted.IsZero() {
			age = roundAge(time.Since(s.Submitted))
		}
		dur, exit := "-", "-"
		if d := s.Duration(); d > 0 {
			dur = d.Round(time.Millisecond).String()
		}
		if s.Status != "" {
			exit = fmt.Sprint(s.ExitCode)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Queue, stateText(s), dash(s.Worker), attemptText(s.Attempt),
			age, dur, exit, messages.Clip(oneLine(s.Error), 60))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if next != "" {
		fmt.Fprintf(c.stdout, "more: submit ls %s--before %s\n", c.repeatFlags(), next)
	}
	return nil
}

// repeatFlags are the filters given, to repeat for the next page.
func (c *lsCmd) repeatFlags() string {
	var b strings.Builder
	c.fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "state", "queue", "worker", "since", "limit", "dead":
			fmt.Fprintf(&b, "--%s=%s ", f.Name, f.Value)
		}
	})
	return b.String()
}

func stateText(s client.TaskSummary) string {
	if s.Status != "" && s.Status != messages.ResultSuccess && s.Status != messages.ResultCancelled && s.Status != messages.ResultError {
		return string(s.State) + " (" + s.Status + ")"
	}
	return string(s.State)
}

func attemptText(n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// roundAge shows d to a precision a person reads at a glance.
func roundAge(d time.Duration) string {
	switch {
	case d < time.Hour:
		return d.Round(time.Second).String()
	case d < 48*time.Hour:
		return d.Round(time.Minute).String()
	default:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	}
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
