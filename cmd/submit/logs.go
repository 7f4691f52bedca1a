package main

import (
	"context"
	"errors"
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

// logsCmd is submit logs: replay a task's output.
type logsCmd struct {
	*command
	follow bool
}

func newLogsCmd(s ioStreams, g *globals) *logsCmd {
	c := &logsCmd{command: newCommand(s, g, "logs", "submit logs [-f] ID", logsAbout, map[string]string{"follow": "f"})}
	c.fs.BoolVar(&c.follow, "follow", false, "keep printing new output until the task finishes")
	c.fs.BoolVar(&c.follow, "f", false, "")
	return c
}

// Run prints the task's stored output, and with -f what follows until
// its result.
func (c *logsCmd) Run(ctx context.Context, args []string) error {
	id, nc, cl, err := c.byID(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()

	st := &statusLine{w: c.stderr}
	if c.follow {
		sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		_, err := cl.Status(sctx, id)
		cancel()
		if errors.Is(err, client.ErrNotFound) {
			st.always("nothing stored for task %s yet; waiting for it (Ctrl-C to stop)", id)
		}
	}
	out := &outputWriter{stdout: c.stdout, stderr: c.stderr, st: st}
	printed := false
	err = cl.Logs(ctx, id, c.follow, func(l *messages.Log) error {
		printed = true
		return out.write(l)
	})
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return explain(err, c.g.prefix)
	}
	if !printed && !c.follow {
		// Tell "no output" from "no such task".
		sctx, cancel := context.WithTimeout(ctx, lookupTimeout)
		defer cancel()
		if _, err := cl.Status(sctx, id); err != nil {
			return lookupError(err, id, c.g.prefix)
		}
	}
	return nil
}
