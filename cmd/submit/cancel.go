package main

import (
	"context"
	"fmt"

	"github.com/jetrun/jetrun/messages"
)

const cancelAbout = `Asks for task ID to be cancelled. A queued task is cancelled when a worker
picks it up; a cancel never applies to a task submitted after it. A
finished task cannot be cancelled (exit 1). The reason is copied into the
task's result.`

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
	ts, err := cl.Status(cctx, id)
	if err == nil && ts.Done() {
		return fmt.Errorf("task %s already finished (%s, exit code %d): nothing to cancel", id, ts.Result.Status, ts.Result.ExitCode)
	}
	if err := cl.Cancel(cctx, id, c.reason); err != nil {
		return explain(err, c.g.prefix)
	}
	if ts.Status == nil {
		// Queued, or never submitted: a queue cannot be searched by id.
		fmt.Fprintf(c.stderr, "submit cancel: no worker has picked up task %s yet: the cancel applies if it is queued, and to no task submitted later (check the id if you expected it to be running)\n", id)
	}
	fmt.Fprintf(c.stdout, "cancel sent for task %s\n", id)
	return nil
}
