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

// runner is one command: Run parses the arguments after the command name
// and does the work.
type runner interface {
	Run(ctx context.Context, args []string) error
}

// commands makes each command on the process's streams and the global
// flags parsed so far.
var commands = map[string]func(ioStreams, *globals) runner{
	"run":       func(s ioStreams, g *globals) runner { return newRunCmd(s, g) },
	"logs":      func(s ioStreams, g *globals) runner { return newLogsCmd(s, g) },
	"status":    func(s ioStreams, g *globals) runner { return newStatusCmd(s, g) },
	"cancel":    func(s ioStreams, g *globals) runner { return newCancelCmd(s, g) },
	"workers":   func(s ioStreams, g *globals) runner { return newWorkersCmd(s, g) },
	"queues":    func(s ioStreams, g *globals) runner { return newQueuesCmd(s, g) },
	"ls":        func(s ioStreams, g *globals) runner { return newLsCmd(s, g) },
	"inspect":   func(s ioStreams, g *globals) runner { return newInspectCmd(s, g) },
	"retry":     func(s ioStreams, g *globals) runner { return newRetryCmd(s, g) },
	"purge":     func(s ioStreams, g *globals) runner { return newPurgeCmd(s, g) },
	"artifacts": func(s ioStreams, g *globals) runner { return newArtifactsCmd(s, g) },
	"dashboard": func(s ioStreams, g *globals) runner { return newDashboardCmd(s, g) },
}

const topUsage = `Usage: submit [global flags] COMMAND [flags] [args]

submit runs containers on jetrun workers through NATS JetStream and follows them.

Commands:
  run     run a task and follow it: live output, exit code of the container
  logs    print a task's output, replayed from the event stream
  status  show a task's latest status or result
  cancel  cancel a task
  workers list the live workers: queue, running tasks, last seen
  queues  list the queues: queued, running, dead letters, finished, workers
  ls      list tasks: queued, running, finished, dead letters; filtered, paged
  inspect show everything kept about one task: spec, statuses, result
  retry   run a finished task again (or every dead letter of a queue)
  purge   remove dead letters
  artifacts list or download a finished task's outputs
  dashboard serve the web dashboard (on loopback unless given a token)

Run 'submit COMMAND --help' for a command's flags.

Global flags (also accepted after COMMAND):
`

// run is the whole program: it parses args (without the program name) and
// runs the command. ctx ending is an interrupt. exitStatus turns the error
// into the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	s := ioStreams{stdin: stdin, stdout: stdout, stderr: &lockedWriter{w: stderr}, lookupEnv: os.LookupEnv}
	if f, ok := stderr.(*os.File); ok {
		s.stderrTTY = term.IsTerminal(int(f.Fd()))
	}
	if f, ok := stdin.(*os.File); ok {
		s.stdinTTY = term.IsTerminal(int(f.Fd()))
	}
	return s.run(ctx, args)
}

// run parses the global flags before the command name and runs the
// command; its errors name the command.
func (s ioStreams) run(ctx context.Context, args []string) error {
	g := &globals{natsURL: defaultURL(s.lookupEnv), prefix: messages.DefaultPrefix, inboxPrefix: inboxPrefixFromEnv(s.lookupEnv)}
	fs := flag.NewFlagSet("submit", flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	g.register(fs)
	help := func(w io.Writer) {
		fmt.Fprint(w, topUsage)
		printFlags(w, fs, nil)
	}
	if err := parse(fs, args, s.stdout, help); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		help(s.stderr)
		return &codeError{code: exitUsage}
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		if len(rest) == 0 {
			help(s.stdout)
			return nil
		}
		return s.run(ctx, []string{rest[0], "--help"})
	}
	mk, ok := commands[name]
	if !ok {
		return &cmdError{err: &codeError{code: exitUsage,
			err: fmt.Errorf("unknown command %q (want run, logs, status, cancel, workers or queues; see submit --help)", name)}}
	}
	if err := mk(s, g).Run(ctx, rest); err != nil {
		return &cmdError{cmd: name, err: err}
	}
	return nil
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
