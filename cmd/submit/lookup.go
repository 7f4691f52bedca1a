package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// lookupTimeout bounds a status or cancel round trip.
const lookupTimeout = 15 * time.Second

const logsAbout = `Prints the output of task ID, replayed from the event stream: stdout to
stdout, stderr to stderr, in the order it was produced. With -f it keeps
printing until the task finishes. Tasks submitted with --reply are not
stored and cannot be replayed.`

func (s ioStreams) cmdLogs(ctx context.Context, g *globals, args []string) int {
	fs := flag.NewFlagSet("submit logs", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	var follow bool
	fs.BoolVar(&follow, "follow", false, "keep printing new output until the task finishes")
	fs.BoolVar(&follow, "f", false, "")
	g.register(fs)
	help := usageFunc(fs, "submit logs [-f] ID", logsAbout, map[string]string{"follow": "f"})
	if code, done := parse(fs, args, s.stdout, help); done {
		return code
	}
	id, code, ok := s.oneID("logs", fs)
	if !ok {
		return code
	}
	if err := g.check(); err != nil {
		return s.fail("logs", exitError, err)
	}
	nc, c, err := g.connect(ctx)
	if err != nil {
		return s.fail("logs", exitError, err)
	}
	defer nc.Close()

	st := &statusLine{w: s.stderr}
	if follow {
		sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		_, err := c.Status(sctx, id)
		cancel()
		if errors.Is(err, client.ErrNotFound) {
			st.always("nothing stored for task %s yet; waiting for it (Ctrl-C to stop)", id)
		}
	}
	out := &outputWriter{stdout: s.stdout, stderr: s.stderr, st: st}
	printed := false
	err = c.Logs(ctx, id, follow, func(l *messages.Log) error {
		printed = true
		return out.write(l)
	})
	if err != nil {
		if ctx.Err() != nil {
			return 130
		}
		return s.fail("logs", exitError, explain(err, g.prefix))
	}
	if !printed && !follow {
		// Tell "no output" from "no such task".
		sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		if _, err := c.Status(sctx, id); err != nil {
			return s.fail("logs", exitError, lookupError(err, id, g.prefix))
		}
	}
	return exitOK
}

const statusAbout = `Shows what the event stream knows about task ID: its latest state
(preparing, pulling, running) or, once it finished, its result. Exits 1 when
nothing is stored for ID (not picked up by a worker yet, unknown, expired, or
submitted with --reply).`

func (s ioStreams) cmdStatus(ctx context.Context, g *globals, args []string) int {
	fs := flag.NewFlagSet("submit status", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	var asJSON bool
	fs.BoolVar(&asJSON, "json", false, "print a JSON object for machines")
	g.register(fs)
	help := usageFunc(fs, "submit status [--json] ID", statusAbout, nil)
	if code, done := parse(fs, args, s.stdout, help); done {
		return code
	}
	id, code, ok := s.oneID("status", fs)
	if !ok {
		return code
	}
	if err := g.check(); err != nil {
		return s.fail("status", exitError, err)
	}
	nc, c, err := g.connect(ctx)
	if err != nil {
		return s.fail("status", exitError, err)
	}
	defer nc.Close()
	sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ts, err := c.Status(sctx, id)
	if err != nil {
		return s.fail("status", exitError, lookupError(err, id, g.prefix))
	}
	view := newStatusView(id, ts)
	if asJSON {
		enc := json.NewEncoder(s.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(view); err != nil {
			return s.fail("status", exitError, err)
		}
		return exitOK
	}
	view.print(s.stdout)
	return exitOK
}

// lookupError explains a failed lookup by id.
func lookupError(err error, id, prefix string) error {
	if errors.Is(err, client.ErrNotFound) {
		return fmt.Errorf("nothing stored for task %s: not picked up by a worker yet, unknown, expired, or submitted with --reply (check --prefix %q)", id, prefix)
	}
	return explain(err, prefix)
}

// oneID returns the single positional argument, a task id.
func (s ioStreams) oneID(cmd string, fs *flag.FlagSet) (id string, code int, ok bool) {
	if fs.NArg() != 1 {
		return "", s.usageError(cmd, "want exactly one task ID, got %d arguments", fs.NArg()), false
	}
	id = fs.Arg(0)
	if !messages.ValidID(id) {
		return "", s.usageError(cmd, "%q is not a task id (1 to %d of A-Z a-z 0-9 _ -)", id, messages.MaxIDLen), false
	}
	return id, 0, true
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

const cancelAbout = `Asks for task ID to be cancelled. A task no worker has picked up yet is
cancelled when one does; cancelling a finished task has no effect. The
reason is copied into the task's result.`

func (s ioStreams) cmdCancel(ctx context.Context, g *globals, args []string) int {
	fs := flag.NewFlagSet("submit cancel", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	reason := "cancelled with submit cancel"
	fs.StringVar(&reason, "reason", reason, "`TEXT` copied into the task's result")
	g.register(fs)
	help := usageFunc(fs, "submit cancel [--reason TEXT] ID", cancelAbout, nil)
	if code, done := parse(fs, args, s.stdout, help); done {
		return code
	}
	id, code, ok := s.oneID("cancel", fs)
	if !ok {
		return code
	}
	if err := (&messages.Cancel{ID: id, Reason: reason}).Validate(); err != nil {
		return s.usageError("cancel", "%v", err)
	}
	if err := g.check(); err != nil {
		return s.fail("cancel", exitError, err)
	}
	nc, c, err := g.connect(ctx)
	if err != nil {
		return s.fail("cancel", exitError, err)
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	// Best effort: say when the cancel cannot change anything.
	if ts, err := c.Status(cctx, id); err == nil && ts.Done() {
		fmt.Fprintf(s.stderr, "submit cancel: task %s already finished (%s); the cancel has no effect\n", id, ts.Result.Status)
		return exitOK
	}
	if err := c.Cancel(cctx, id, reason); err != nil {
		return s.fail("cancel", exitError, explain(err, g.prefix))
	}
	fmt.Fprintf(s.stdout, "cancel sent for task %s\n", id)
	return exitOK
}
