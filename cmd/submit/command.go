package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/nats-io/nats.go"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// command is the skeleton every command shares: the process's streams,
// the global flags, its flag set (global flags included) and its help.
type command struct {
	ioStreams
	g    *globals
	name string
	fs   *flag.FlagSet
	help func(io.Writer)
	// checkID, when set, checks the flags against the task id before
	// byID connects; its error is a usage error.
	checkID func(id string) error
	// args are the positional arguments byID parsed.
	args []string
}

// newCommand makes the skeleton of command name; short maps a long flag
// name to its one-letter alias, printed together in the help.
func newCommand(s ioStreams, g *globals, name, synopsis, about string, short map[string]string) *command {
	fs := flag.NewFlagSet("submit "+name, flag.ContinueOnError)
	fs.SetOutput(s.stderr)
	g.register(fs)
	return &command{ioStreams: s, g: g, name: name, fs: fs, help: usageFunc(fs, synopsis, about, short)}
}

// parse parses the command's arguments; see parse.
func (c *command) parse(args []string) error { return parse(c.fs, args, c.stdout, c.help) }

// usage reports a wrong argument the flag package cannot see.
func (c *command) usage(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf("%s (see submit %s --help)", fmt.Sprintf(format, a...), c.name)}
}

// parseInterspersed parses args with flags before or after the
// positional arguments, as the Docker CLI does ("status ID --json"); after
// "--" everything is positional.
func (c *command) parseInterspersed(args []string) error {
	c.args = nil
	for {
		if err := c.parse(args); err != nil {
			return err
		}
		rest := c.fs.Args()
		consumed := len(args) - len(rest)
		if len(rest) == 0 || consumed > 0 && args[consumed-1] == "--" {
			c.args = append(c.args, rest...)
			return nil
		}
		c.args = append(c.args, rest[0])
		args = rest[1:]
	}
}

// oneID returns the single positional argument, a task id.
func (c *command) oneID() (string, error) {
	if len(c.args) != 1 {
		return "", c.usage("want exactly one task ID, got %d arguments", len(c.args))
	}
	id := c.args[0]
	if !messages.ValidID(id) {
		return "", c.usage("%q is not a task id (1 to %d of A-Z a-z 0-9 _ -)", id, messages.MaxIDLen)
	}
	return id, nil
}

// byID starts a command that acts on one task: it parses args (flags
// before or after the task id), runs checkID, checks the global flags and
// connects. The caller closes nc.
func (c *command) byID(ctx context.Context, args []string) (id string, nc *nats.Conn, cl *client.Client, err error) {
	if err := c.parseInterspersed(args); err != nil {
		return "", nil, nil, err
	}
	if id, err = c.oneID(); err != nil {
		return "", nil, nil, err
	}
	if c.checkID != nil {
		if err := c.checkID(id); err != nil {
			return "", nil, nil, c.usage("%v", err)
		}
	}
	if nc, cl, err = c.connect(ctx); err != nil {
		return "", nil, nil, err
	}
	return id, nc, cl, nil
}

// noArgs starts a command that takes no positional argument: it parses
// args, checks the global flags and connects. The caller closes nc.
func (c *command) noArgs(ctx context.Context, args []string) (nc *nats.Conn, cl *client.Client, err error) {
	if err := c.parseInterspersed(args); err != nil {
		return nil, nil, err
	}
	if len(c.args) != 0 {
		return nil, nil, c.usage("takes no arguments, got %q", c.args)
	}
	return c.connect(ctx)
}

// printJSON writes v as indented JSON, the --json output of every command.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// connect checks the global flags and connects. The caller closes the
// connection.
func (c *command) connect(ctx context.Context, opts ...client.Option) (*nats.Conn, *client.Client, error) {
	if err := c.g.check(); err != nil {
		return nil, nil, err
	}
	return c.g.connect(ctx, opts...)
}
