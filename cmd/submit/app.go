package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/term"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natsconn"
	"github.com/jetrun/jetrun/messages"
)

// Exit codes of submit itself; `run` otherwise exits with the task's.
const (
	exitOK = 0
	// exitError: a command other than run failed.
	exitError = 1
	// exitUsage: bad flags or arguments.
	exitUsage = 2
	// exitNotRun: run could not submit the task (no server, no task
	// stream, an invalid spec), as docker run's 125.
	exitNotRun = 125
)

// connectTimeout bounds dialing the NATS server.
const connectTimeout = 5 * time.Second

// ioStreams are the process's standard streams.
type ioStreams struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stderrTTY: stderr is a terminal, so status lines are shown.
	stderrTTY bool
	// stdinTTY: stdin is a terminal, so -i says how to end the input.
	stdinTTY  bool
	lookupEnv func(string) (string, bool)
}

const topUsage = `Usage: submit [global flags] COMMAND [flags] [args]

submit runs containers on jetrun workers through NATS JetStream and follows them.

Commands:
  run     run a task and follow it: live output, exit code of the container
  logs    print a task's output, replayed from the event stream
  status  show a task's latest status or result
  cancel  cancel a task

Run 'submit COMMAND --help' for a command's flags.

Global flags (also accepted after COMMAND):
`

// run is the whole program: it parses args (without the program name),
// runs the command and returns the exit code. ctx ending is an interrupt.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	s := ioStreams{stdin: stdin, stdout: stdout, stderr: &lockedWriter{w: stderr}, lookupEnv: os.LookupEnv}
	if f, ok := stderr.(*os.File); ok {
		s.stderrTTY = term.IsTerminal(int(f.Fd()))
	}
	if f, ok := stdin.(*os.File); ok {
		s.stdinTTY = term.IsTerminal(int(f.Fd()))
	}
	return s.main(ctx, args)
}

func (s ioStreams) main(ctx context.Context, args []string) int {
	g := &globals{natsURL: defaultURL(s.lookupEnv), prefix: messages.DefaultPrefix, inboxPrefix: inboxPrefixFromEnv(s.lookupEnv)}
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	g.register(fs)
	help := func(w io.Writer) {
		fmt.Fprint(w, topUsage)
		printFlags(w, fs, nil)
	}
	if code, done := parse(fs, args, s.stdout, help); done {
		return code
	}
	if fs.NArg() == 0 {
		help(s.stderr)
		return exitUsage
	}
	cmd, rest := fs.Arg(0), fs.Args()[1:]
	switch cmd {
	case "run":
		return s.cmdRun(ctx, g, rest)
	case "logs":
		return s.cmdLogs(ctx, g, rest)
	case "status":
		return s.cmdStatus(ctx, g, rest)
	case "cancel":
		return s.cmdCancel(ctx, g, rest)
	case "help":
		if len(rest) == 0 {
			help(s.stdout)
			return exitOK
		}
		return s.main(ctx, []string{rest[0], "--help"})
	}
	fmt.Fprintf(s.stderr, "submit: unknown command %q (want run, logs, status or cancel; see submit --help)\n", cmd)
	return exitUsage
}

// usageError reports a wrong argument the flag package cannot see.
func (s ioStreams) usageError(cmd string, format string, a ...any) int {
	fmt.Fprintf(s.stderr, "submit %s: %s (see submit %s --help)\n", cmd, fmt.Sprintf(format, a...), cmd)
	return exitUsage
}

// fail prints err and returns code.
func (s ioStreams) fail(cmd string, code int, err error) int {
	fmt.Fprintf(s.stderr, "submit %s: %v\n", cmd, err)
	return code
}

// check validates the global flags.
func (g *globals) check() error {
	if err := messages.ValidPrefix(g.prefix); err != nil {
		return fmt.Errorf("--prefix: %w", err)
	}
	if g.natsURL == "" {
		return errors.New("--nats: empty server URL")
	}
	if err := natsconn.ValidInboxPrefix(g.inboxPrefix); err != nil {
		return fmt.Errorf("--inbox-prefix %w", err)
	}
	return nil
}

// connect dials the NATS server and returns a client on the connection.
// The caller closes the connection.
func (g *globals) connect(ctx context.Context, opts ...client.Option) (*nats.Conn, *client.Client, error) {
	nc, err := natsconn.Connect(ctx, natsconn.Config{
		URL:         g.natsURL,
		Name:        "jetrun-submit",
		Creds:       g.creds,
		InboxPrefix: g.inboxPrefix,
		DialTimeout: connectTimeout,
		Flags: natsconn.Flags{
			URL: "--nats or " + envNATSURL, Creds: "--creds",
			Inbox: "--inbox-prefix or " + envInboxPrefix, Role: "submitter",
		},
	})
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(nc, append([]client.Option{client.WithPrefix(g.prefix)}, opts...)...)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, c, nil
}

// explain replaces the errors a user can act on with what to do; the
// original stays in the chain for errors.Is.
func explain(err error, prefix string) error {
	switch {
	case errors.Is(err, client.ErrNoTaskStream):
		return &hintError{fmt.Sprintf("no task stream %s for prefix %q: is a worker running? (workers create the streams; check --prefix and --nats)",
			messages.TasksStream, prefix), err}
	case errors.Is(err, client.ErrNoEventStream):
		return &hintError{fmt.Sprintf("no event stream %s for prefix %q: is a worker running? (workers create the streams; check --prefix and --nats)",
			messages.EventsStream, prefix), err}
	}
	return err
}

// hintError shows msg in place of err, which it wraps.
type hintError struct {
	msg string
	err error
}

func (e *hintError) Error() string { return e.msg }
func (e *hintError) Unwrap() error { return e.err }

// lockedWriter serialises writes from the output and status goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
