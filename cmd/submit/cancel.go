package main

import (
	"context"
	"fmt"

	"github.com/jetrun/jetrun/messages"
)

const cancelAbout = `Asks for task ID to be cancelled. A task no worker has picked up yet is
cancelled when one does; cancelling a finished task has no effect. The
reason is copied into the task's result.`

// cancelCmd is submit cancel: ask for a task to be cancelled.
type cancelCmd struct {
	*command
	reason string
}

func newCancelCmd(s ioStreams, g *globals) *cancelCmd {
	c := &cancelCmd{command: newCommand(s, g, "cancel", "submit cancel [--reason TEXT] ID", cancelAbout, nil)}
	c.reason = "cancelled with submit cancel"
	c.fs.StringVar(&c.reason, "reason", c.reason, "`TEXT` copied into the task's result")
	c.checkID = func(id string) error { return (&messages.Cancel{ID: id, Reason: c.reason}).Validate() }
	return c
}

// Run publishes the cancel, unless the task is known to have finished.
func (c *cancelCmd) Run(ctx context.Context, args []string) error {
	id, nc, cl, err := c.byID(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	cctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	// Best effort: say when the cancel cannot change anything.
	if ts, err := cl.Status(cctx, id); err == nil && ts.Done() {
		fmt.Fprintf(c.stderr, "submit cancel: task %s already finished (%s); the cancel has no effect\n", id, ts.Result.Status)
		return nil
	}
	if err := cl.Cancel(cctx, id, c.reason); err != nil {
		return explain(err, c.g.prefix)
	}
	fmt.Fprintf(c.stdout, "cancel sent for task %s\n", id)
	return nil
}
