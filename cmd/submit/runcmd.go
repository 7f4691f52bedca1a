package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// Bounds of run's waits after the task's result or an interrupt.
const (
	// cancelWait bounds the wait for the cancelled result after Ctrl-C.
	cancelWait = 10 * time.Second
	// outputGrace bounds the wait for the output still in flight once
	// the result is known.
	outputGrace = 5 * time.Second
)

const runAbout = `Runs IMAGE on a jetrun worker with CMD (default: the image's), prints its
stdout and stderr live, and exits with its exit code: 124 when it timed out,
130 when it was cancelled, 137 when it ran out of memory, 1 when it failed
without an exit code (the reason is printed), 125 when it could not be
submitted. Ctrl-C cancels the task and waits up to 10s for it to stop; a
second Ctrl-C exits at once.

With -f, the task comes from a YAML or JSON spec file and the flags given
override it; IMAGE may then be omitted, and 'submit run -f FILE -- CMD...'
replaces the command only.`

// runOptions are run's own flags.
type runOptions struct {
	specFile  string
	id        string
	queue     string
	reply     string
	workdir   string
	inputFile string
	stdin     bool
	detach    bool
	verbose   bool
	env       envFlag
	labels    labelFlag
	volumes   volumeFlag
	timeoutMS int64
	memory    int64
	cpus      int64
}

func (s ioStreams) cmdRun(ctx context.Context, g *globals, args []string) int {
	o := runOptions{labels: labelFlag{}, queue: messages.DefaultQueue}
	fs := flag.NewFlagSet("submit run", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	short := map[string]string{"env": "e", "workdir": "w", "volume": "v", "file": "f", "interactive": "i"}
	fs.StringVar(&o.specFile, "file", "", "task spec `FILE` (YAML or JSON; - reads stdin); flags override it")
	fs.StringVar(&o.specFile, "f", "", "")
	fs.Var(&o.env, "env", "set an environment variable: `NAME=VALUE`, or NAME to pass on submit's own (repeatable)")
	fs.Var(&o.env, "e", "")
	fs.Var(o.labels, "label", "set a container label `KEY=VALUE` (repeatable; jetrun.* is reserved)")
	fs.Var(funcFlag(func(v string) (err error) { o.timeoutMS, err = parseTimeout(v); return }), "timeout",
		"stop the task after `DURATION` (e.g. 30s, 5m; default: the worker's)")
	fs.Var(funcFlag(func(v string) (err error) { o.memory, err = parseMemory(v); return }), "memory",
		"memory limit `SIZE` (e.g. 256M, 1.5G; default: the worker's)")
	fs.Var(funcFlag(func(v string) (err error) { o.cpus, err = parseCPUs(v); return }), "cpus",
		"CPU limit in `CPUS` (e.g. 0.5, 2; default: the worker's)")
	fs.StringVar(&o.workdir, "workdir", "", "working `DIR` inside the container")
	fs.StringVar(&o.workdir, "w", "", "")
	fs.Var(&o.volumes, "volume", "bind mount `HOST:CONTAINER` (repeatable; the worker must allow HOST)")
	fs.Var(&o.volumes, "v", "")
	fs.BoolVar(&o.stdin, "interactive", false, "send submit's stdin to the task's stdin (read to EOF first, at most 1 MiB)")
	fs.BoolVar(&o.stdin, "i", false, "")
	fs.StringVar(&o.inputFile, "input", "", "send `FILE` to the task's stdin (at most 1 MiB)")
	fs.StringVar(&o.queue, "queue", o.queue, "submit to `QUEUE`")
	fs.StringVar(&o.id, "id", "", "task `ID` (default: a random one); resubmitting an id within the duplicate window does not run it twice")
	fs.StringVar(&o.reply, "reply", "", "publish the task's events under `SUBJECT` instead of PREFIX.events.ID (logs and status cannot find them)")
	fs.BoolVar(&o.detach, "detach", false, "print the task id once the task is stored, and exit")
	fs.BoolVar(&o.verbose, "verbose", false, "show status (queued, pulling, running, result) on stderr even when it is not a terminal")
	g.register(fs)
	help := usageFunc(fs, "submit run [flags] IMAGE [-- CMD [ARGS...]]", runAbout, short)
	o.env.lookup = s.lookupEnv
	if code, done := parse(fs, args, s.stdout, help); done {
		return code
	}
	set := setFlags(fs)
	t, err := s.buildTask(&o, fs, args, set)
	if err != nil {
		return s.fail("run", exitNotRun, err)
	}
	if err := g.check(); err != nil {
		return s.fail("run", exitNotRun, err)
	}
	if err := messages.ValidQueue(o.queue); err != nil {
		return s.fail("run", exitNotRun, fmt.Errorf("--queue: %w", err))
	}
	if err := messages.NewSubjects(g.prefix).ValidateTask(t); err != nil {
		return s.fail("run", exitNotRun, err)
	}

	nc, c, err := g.connect(ctx, client.WithQueue(o.queue), client.WithEventBuffer(1024))
	if err != nil {
		return s.fail("run", exitNotRun, err)
	}
	defer nc.Close()
	st := &statusLine{w: s.stderr, on: o.verbose || s.stderrTTY}

	h, err := c.Submit(ctx, t)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(s.stderr, "submit run: interrupted before task %s was acknowledged; it may still run: submit cancel %s\n", t.ID, t.ID)
			return 130
		}
		return s.fail("run", exitNotRun, explain(err, g.prefix))
	}
	defer h.Close()
	ack := h.Ack()
	if o.detach {
		h.Close()
		fmt.Fprintln(s.stdout, t.ID)
		if ack.Duplicate {
			fmt.Fprintf(s.stderr, "submit run: task %s was already submitted within the duplicate window: this submit was discarded, the first one runs\n", t.ID)
		} else {
			st.printf("task %s stored (%s #%d)", t.ID, ack.Stream, ack.Sequence)
		}
		return exitOK
	}
	if ack.Duplicate {
		fmt.Fprintf(s.stderr, "submit run: task %s was already submitted within the duplicate window: following the first submission\n", t.ID)
	} else {
		st.printf("task %s queued on %s (%s #%d)", t.ID, o.queue, ack.Stream, ack.Sequence)
	}
	return s.follow(ctx, c, h, t, st)
}

// buildTask makes the task from the spec file, the flags and the
// positional arguments, reading its input.
func (s ioStreams) buildTask(o *runOptions, fs *flag.FlagSet, args []string, set map[string]bool) (*messages.Task, error) {
	t := &messages.Task{}
	var specQueue string
	if o.specFile != "" {
		sp, err := readSpec(o.specFile, s.stdin)
		if err != nil {
			return nil, err
		}
		t, specQueue = sp.task(), sp.Queue
	}
	pos := fs.Args()
	// After -f, 'submit run -f FILE -- CMD' replaces the command only: a
	// "--" right before the positional arguments means there is no IMAGE.
	cmdOnly := o.specFile != "" && len(pos) > 0 && len(args) > len(pos) && args[len(args)-len(pos)-1] == "--"
	if len(pos) > 0 && !cmdOnly {
		t.Image, pos = pos[0], pos[1:]
		if len(pos) > 0 && pos[0] == "--" {
			pos = pos[1:]
		}
	}
	if t.Image == "" {
		return nil, errors.New("no IMAGE given (submit run [flags] IMAGE [-- CMD...], or an image in the -f spec)")
	}
	if len(pos) > 0 {
		t.Cmd = pos
	}
	if set["queue"] || specQueue == "" {
		specQueue = o.queue
	}
	o.queue = specQueue
	if set["id"] {
		t.ID = o.id
	}
	if t.ID == "" {
		t.ID = newID()
	}
	if set["reply"] {
		t.Reply = o.reply
	}
	if set["workdir"] || set["w"] {
		t.Workdir = o.workdir
	}
	if set["timeout"] {
		t.TimeoutMS = o.timeoutMS
	}
	if set["memory"] {
		t.Memory = o.memory
	}
	if set["cpus"] {
		t.CPUs = o.cpus
	}
	t.Env = merge(t.Env, o.env.vals)
	t.Labels = merge(t.Labels, o.labels)
	for _, v := range o.volumes {
		t.Volumes = setVolume(t.Volumes, v)
	}

	switch {
	case o.stdin && o.inputFile != "":
		return nil, errors.New("-i and --input both give the task's stdin: choose one")
	case o.stdin && o.specFile == "-":
		return nil, errors.New("-i and -f - both read submit's stdin: choose one")
	case o.stdin:
		if s.stdinTTY {
			fmt.Fprintln(s.stderr, "submit run: reading the task's input from the terminal; end it with Ctrl-D")
		}
		in, err := readInput(s.stdin, "stdin")
		if err != nil {
			return nil, err
		}
		t.Input = in
	case o.inputFile != "":
		var in []byte
		f, err := os.Open(o.inputFile)
		if err == nil {
			in, err = readInput(f, o.inputFile)
			f.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		t.Input = in
	}
	return t, nil
}

// readInput reads a task's input, refusing more than a task can carry
// before reading it all.
func readInput(r io.Reader, name string) ([]byte, error) {
	in, err := io.ReadAll(io.LimitReader(r, messages.MaxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read input %s: %w", name, err)
	}
	if len(in) > messages.MaxInputBytes {
		return nil, fmt.Errorf("input %s: more than %d bytes, the most a task's stdin can carry (put larger data in a volume)", name, messages.MaxInputBytes)
	}
	if len(in) == 0 {
		return nil, nil
	}
	return in, nil
}

// merge returns base with over's entries set on it.
func merge(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	if base == nil {
		base = make(map[string]string, len(over))
	}
	for k, v := range over {
		base[k] = v
	}
	return base
}

// setVolume adds v, replacing a volume at the same container path.
func setVolume(vols [][]string, v []string) [][]string {
	for i, old := range vols {
		if len(old) == 2 && old[1] == v[1] {
			vols[i] = v
			return vols
		}
	}
	return append(vols, v)
}

// newID returns a random task id: 26 characters of base32, 130 bits.
func newID() string { return strings.ToLower(rand.Text()) }

// follow prints the task's output and status until its result, and
// returns the exit code. ctx ending cancels the task.
func (s ioStreams) follow(ctx context.Context, c *client.Client, h *client.Handle, t *messages.Task, st *statusLine) int {
	// Output outlives an interrupt: it keeps flowing while the task is
	// being cancelled.
	outCtx, stopOutput := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOutput()
	out := &outputWriter{stdout: s.stdout, stderr: s.stderr, st: st}
	stored := t.Reply == ""
	if stored {
		// Replaying needs JETRUN_EVENTS; without it (a worker still
		// starting, a stream deleted) the live events are all there is.
		sctx, cancel := context.WithTimeout(outCtx, lookupTimeout)
		_, err := c.Status(sctx, t.ID)
		cancel()
		if errors.Is(err, client.ErrNoEventStream) {
			st.always("no event stream %s: output is shown live only and cannot be replayed", messages.EventsStream)
			stored = false
		}
	}
	outDone := make(chan error, 1)
	if stored {
		// Replayed from JETRUN_EVENTS with flow control: nothing is lost
		// to a slow stdout, and it ends at the result.
		go func() { outDone <- c.Logs(outCtx, t.ID, true, out.write) }()
	}
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range h.Events() {
			switch {
			case ev.Status != nil:
				st.status(ev.Status)
			case ev.Log != nil && !stored:
				out.check(ev.Log)
				_ = out.write(ev.Log)
			}
		}
	}()

	interrupted := false
	select {
	case <-h.Done():
	case <-ctx.Done():
		interrupted = true
		fmt.Fprintf(s.stderr, "submit run: cancelling task %s (interrupt again to exit at once)\n", t.ID)
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cancelWait)
		defer cancel()
		if err := h.Cancel(cctx, "interrupted (submit run)"); err != nil {
			fmt.Fprintf(s.stderr, "submit run: cancel task %s: %v\n", t.ID, err)
		}
		select {
		case <-h.Done():
		case <-cctx.Done():
			fmt.Fprintf(s.stderr, "submit run: no result for task %s within %v; it may still be running (submit status %s)\n", t.ID, cancelWait, t.ID)
			return 130
		}
	}
	res, err := h.Result(context.WithoutCancel(ctx))
	if err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			err = fmt.Errorf("%w (the connection to NATS was lost; the task may still run: submit status %s)", err, t.ID)
		}
		return s.fail("run", exitError, err)
	}
	// Let the output still in flight reach the terminal.
	if stored {
		select {
		case err := <-outDone:
			if err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(s.stderr, "submit run: output of task %s: %v (replay it: submit logs %s)\n", t.ID, err, t.ID)
			}
		case <-time.After(outputGrace):
			stopOutput()
			<-outDone
			fmt.Fprintf(s.stderr, "submit run: output of task %s still arriving after its result; replay it: submit logs %s\n", t.ID, t.ID)
		}
	}
	h.Close()
	<-evDone
	if !stored {
		if lost := out.lost + h.Dropped(); lost > 0 {
			fmt.Fprintf(s.stderr, "submit run: %d events of task %s were lost (stdout too slow); its output is incomplete\n", lost, t.ID)
		}
	}
	code := exitCode(res)
	st.result(res, interrupted)
	return code
}

// exitCode maps a result to submit's exit code.
func exitCode(r *messages.Result) int {
	switch r.Status {
	case messages.ResultSuccess:
		return 0
	case messages.ResultTimeout:
		return 124
	case messages.ResultCancelled:
		return 130
	case messages.ResultKilled:
		if !r.OOM && r.ExitCode > 0 && r.ExitCode < 256 {
			return r.ExitCode
		}
		return 137
	}
	if r.ExitCode > 0 && r.ExitCode < 256 {
		return r.ExitCode
	}
	return 1
}
