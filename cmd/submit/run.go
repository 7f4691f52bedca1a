package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
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
	specFile   string
	id         string
	randomID   bool // the id was made up, not given
	noWorkerOK bool
	queue      string
	reply      string
	workdir    string
	inputFile  string
	stdin      bool
	detach     bool
	verbose    bool
	env        envFlag
	labels     labelFlag
	volumes    volumeFlag
	timeoutMS  int64
	memory     int64
	cpus       int64
	art        artifactOptions
}

// runCmd is submit run: submit a task, follow it, exit with its code.
type runCmd struct {
	*command
	o  runOptions
	cl *client.Client
}

func newRunCmd(s ioStreams, g *globals) *runCmd {
	c := &runCmd{o: runOptions{labels: labelFlag{}, queue: messages.DefaultQueue}}
	short := map[string]string{"env": "e", "workdir": "w", "volume": "v", "file": "f", "interactive": "i"}
	c.command = newCommand(s, g, "run", "submit run [flags] IMAGE [-- CMD [ARGS...]]", runAbout, short)
	o, fs := &c.o, c.fs
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
	fs.Var(&o.volumes, "volume", "bind mount `HOST:CONTAINER[:ro|:rw]`, read-only unless :rw (repeatable; the worker must allow HOST)")
	fs.Var(&o.volumes, "v", "")
	fs.BoolVar(&o.stdin, "interactive", false, "send submit's stdin to the task's stdin (read to EOF first; the whole task must fit in one 1 MiB message)")
	fs.BoolVar(&o.stdin, "i", false, "")
	fs.StringVar(&o.inputFile, "input", "", "send `FILE` to the task's stdin (the same limit as -i)")
	fs.StringVar(&o.queue, "queue", o.queue, "submit to `QUEUE`")
	fs.StringVar(&o.id, "id", "", "task `ID` (default: a random one); resubmitting an id within the duplicate window does not run it twice")
	fs.StringVar(&o.reply, "reply", "", "publish the task's events under `SUBJECT` instead of PREFIX.events.ID (logs and status cannot find them)")
	fs.BoolVar(&o.detach, "detach", false, "print the task id once the task is stored, and exit")
	fs.BoolVar(&o.noWorkerOK, "wait-for-worker", false, "submit even when no live worker consumes the queue, and wait for one")
	fs.BoolVar(&o.verbose, "verbose", false, "show status (queued, pulling, running, result) on stderr even when it is not a terminal")
	o.art.flags(fs)
	o.env.lookup = s.lookupEnv
	return c
}

// Run submits the task and follows it to its result. Errors before the
// task is stored are notRun (125); the task's own exit code comes as a
// *taskExitError.
func (c *runCmd) Run(ctx context.Context, args []string) error {
	if err := c.parse(args); err != nil {
		return err
	}
	o := &c.o
	t, err := c.buildTask(o, c.fs, args, setFlags(c.fs))
	if err != nil {
		return notRun(err)
	}
	if err := c.g.check(); err != nil {
		return notRun(err)
	}
	if err := messages.ValidQueue(o.queue); err != nil {
		return notRun(fmt.Errorf("--queue: %w", err))
	}
	if err := messages.NewSubjects(c.g.prefix).ValidateTask(t); err != nil {
		return notRun(err)
	}

	nc, cl, err := c.g.connect(ctx, client.WithQueue(o.queue), client.WithEventBuffer(1024))
	if err != nil {
		return notRun(err)
	}
	defer nc.Close()
	st := &statusLine{w: c.stderr, on: o.verbose || c.stderrTTY}
	if !o.randomID {
		if err := finishedAlready(ctx, cl, t.ID); err != nil {
			return notRun(err)
		}
	}
	if !o.noWorkerOK {
		if err := queueServed(ctx, cl, o.queue); err != nil {
			return notRun(err)
		}
	}
	if err := o.art.upload(ctx, cl, t, st); err != nil {
		return notRun(err)
	}
	c.cl = cl

	h, err := cl.Submit(ctx, t)
	if err != nil {
		if ctx.Err() != nil {
			return &codeError{code: exitInterrupted,
				err: fmt.Errorf("interrupted before task %s was acknowledged; it may still run: submit cancel %s", t.ID, t.ID)}
		}
		return notRun(explain(err, c.g.prefix))
	}
	defer h.Close()
	ack := h.Ack()
	if o.detach {
		h.Close()
		fmt.Fprintln(c.stdout, t.ID)
		if ack.Duplicate {
			fmt.Fprintf(c.stderr, "submit run: task %s was already submitted within the duplicate window: this submit was discarded, the first one runs\n", t.ID)
		} else {
			st.printf("task %s stored (%s #%d)", t.ID, ack.Stream, ack.Sequence)
		}
		return nil
	}
	if ack.Duplicate {
		fmt.Fprintf(c.stderr, "submit run: task %s was already submitted within the duplicate window: following the first submission\n", t.ID)
	} else {
		st.printf("task %s queued on %s (%s #%d)", t.ID, o.queue, ack.Stream, ack.Sequence)
	}
	return c.follow(ctx, h, st)
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
		o.randomID = true
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
		in, err := o.art.readInput(s.stdin, "stdin", nil)
		if err != nil {
			return nil, err
		}
		t.Input = in
	case o.inputFile != "":
		var in []byte
		f, err := os.Open(o.inputFile)
		if err == nil {
			in, err = o.art.readInput(f, o.inputFile, f)
		}
		if err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		t.Input = in
	}
	if err := o.art.apply(t); err != nil {
		return nil, err
	}
	return t, nil
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
		if len(old) >= 2 && old[1] == v[1] {
			vols[i] = v
			return vols
		}
	}
	return append(vols, v)
}

// newID returns a random task id: 26 characters of base32, 130 bits.
func newID() string { return strings.ToLower(rand.Text()) }

// errNoCancelResult: the cancel sent on Ctrl-C brought no result in time.
var errNoCancelResult = errors.New("no result after the cancel")

// follow prints the task's output and status until its result. ctx ending
// cancels the task; following goes on, output included, until the
// cancelled result or cancelWait.
func (c *runCmd) follow(ctx context.Context, h *client.Handle, st *statusLine) error {
	id := h.ID()
	fctx, stopFollow := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopFollow(nil)
	var interrupted atomic.Bool
	followed, watched := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-followed:
			return
		case <-ctx.Done():
		}
		interrupted.Store(true)
		fmt.Fprintf(c.stderr, "submit run: cancelling task %s (interrupt again to exit at once)\n", id)
		cctx, cancel := context.WithTimeout(fctx, cancelWait)
		defer cancel()
		if err := h.Cancel(cctx, "interrupted (submit run)"); err != nil {
			fmt.Fprintf(c.stderr, "submit run: cancel task %s: %v\n", id, err)
		}
		select {
		case <-followed:
		case <-cctx.Done():
			stopFollow(errNoCancelResult)
		}
	}()
	out := &outputWriter{stdout: c.stdout, stderr: c.stderr, st: st}
	f, err := h.Follow(fctx, client.FollowOptions{
		OnStatus: st.status,
		OnLog:    out.write,
		OnNoReplay: func(error) {
			st.always("no event stream %s: output is shown live only and cannot be replayed", messages.EventsStream)
		},
		OutputGrace: outputGrace,
	})
	close(followed)
	<-watched
	switch {
	case errors.Is(err, errNoCancelResult):
		return &codeError{code: exitInterrupted,
			err: fmt.Errorf("no result for task %s within %v; it may still be running (submit status %s)", id, cancelWait, id)}
	case errors.Is(err, nats.ErrConnectionClosed):
		return fmt.Errorf("%w (the connection to NATS was lost; the task may still run: submit status %s)", err, id)
	case err != nil:
		return err
	}
	switch {
	case errors.Is(f.OutputErr, client.ErrOutputIncomplete):
		fmt.Fprintf(c.stderr, "submit run: output of task %s still arriving after its result; replay it: submit logs %s\n", id, id)
	case f.OutputErr != nil && f.Replayed:
		fmt.Fprintf(c.stderr, "submit run: output of task %s: %v (replay it: submit logs %s)\n", id, f.OutputErr, id)
	case f.OutputErr != nil:
		fmt.Fprintf(c.stderr, "submit run: output of task %s: %v\n", id, f.OutputErr)
	}
	if f.Lost > 0 {
		fmt.Fprintf(c.stderr, "submit run: %d events of task %s were lost (stdout too slow); its output is incomplete\n", f.Lost, id)
	}
	code := exitCode(f.Result)
	st.result(f.Result, interrupted.Load())
	if err := reportArtifacts(fctx, c.cl, c.stderr, f.Result, c.o.art.dest); err != nil {
		fmt.Fprintf(c.stderr, "submit run: %v\n", err)
		if code == exitOK {
			code = 1
		}
	}
	if code != exitOK {
		return &taskExitError{id: id, code: code}
	}
	return nil
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

// finishedAlready refuses an id that already has a stored result: an id
// names one run, and publishing it again would only show that run's
// result (issue: a re-used --id printed an old failure without running).
func finishedAlready(ctx context.Context, cl *client.Client, id string) error {
	ts, err := cl.Status(ctx, id)
	if err != nil || ts.Result == nil {
		return nil // unknown or not finished: the submit says the rest
	}
	r := ts.Result
	when := ""
	if !r.Finished.IsZero() {
		when = fmt.Sprintf(" %s ago (%s)", time.Since(r.Finished).Round(time.Second), r.Finished.Local().Format(time.DateTime))
	}
	return fmt.Errorf("task %s already finished%s: %s, exit code %d%s.\nAn id runs once; its result is kept for the results stream's retention (7 days by default).\nTo run the task again, give it a new id (--id %s-2) or leave --id out; submit status %s and submit logs %s show the earlier run",
		id, when, r.Status, r.ExitCode, errNote(r), id, id, id)
}

// errNote is ": " and r's error when it says more than the exit code.
func errNote(r *messages.Result) string {
	if r.Error == "" || onlyTheCode(r) {
		return ""
	}
	return ": " + messages.Clip(r.Error, 200)
}

// queueServed refuses a queue no live worker consumes (a mistyped --queue
// would wait in silence), naming the queues that have workers. A
// deployment without the workers bucket is not checked.
func queueServed(ctx context.Context, cl *client.Client, queue string) error {
	served, queues, err := cl.QueueWorker(ctx, queue)
	if err != nil || served {
		return nil // served, or cannot tell: the submit goes on
	}
	have := "no worker is running"
	if len(queues) > 0 {
		have = "queues with live workers: " + strings.Join(queues, ", ")
	}
	return fmt.Errorf("no live worker consumes queue %q (%s).\nCheck --queue; to submit anyway and wait for a worker of that queue, add --wait-for-worker", queue, have)
}
