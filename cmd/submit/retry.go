package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

const retryAbout = `Runs a finished task again as a new task, linked to the first: ID-r1 for
task ID (then ID-r2 for ID-r1 ...), with retry_of set to ID, on the queue
the first ran on. The spec comes from the task's dead letter (every task
that did not succeed, input and env included) or, for a task that
succeeded without an input or env, from its index record. Prints the new id.

--all retries the dead letters matching --queue and --since instead, the
newest first, at most --limit of them; a task already retried is skipped
and said so, so running it twice retries each task once.`

// retryCmd is submit retry ID | --all.
type retryCmd struct {
	*command
	all    bool
	queue  string
	since  time.Duration
	limit  int
	asJSON bool
}

func newRetryCmd(s ioStreams, g *globals) *retryCmd {
	c := &retryCmd{command: newCommand(s, g, "retry", "submit retry ID | --all [--queue Q] [--since DURATION] [--limit N] [--json]", retryAbout, nil)}
	c.fs.BoolVar(&c.all, "all", false, "retry every dead letter matching --queue and --since")
	c.fs.StringVar(&c.queue, "queue", "", "with --all: only this queue's dead letters")
	c.fs.DurationVar(&c.since, "since", 0, "with --all: only dead letters stored within this long")
	c.fs.IntVar(&c.limit, "limit", 100, fmt.Sprintf("with --all: at most this many, up to %d", client.MaxListLimit))
	c.fs.BoolVar(&c.asJSON, "json", false, "print JSON for machines")
	return c
}

// retriedView is one task of submit retry --json.
type retriedView struct {
	ID    string `json:"id"`
	NewID string `json:"new_id,omitempty"`
	Error string `json:"error,omitempty"`
}

// Run retries one task or the dead letters matching the filters.
func (c *retryCmd) Run(ctx context.Context, args []string) error {
	filter, err := c.parseFilter(args)
	if err != nil {
		return err
	}
	nc, cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, 2*lookupTimeout)
	defer cancel()
	if !c.all {
		next, err := cl.Retry(lctx, c.args[0])
		if err != nil {
			return explain(err, c.g.prefix)
		}
		if c.asJSON {
			return printJSON(c.stdout, retriedView{ID: c.args[0], NewID: next})
		}
		fmt.Fprintln(c.stdout, next)
		return nil
	}
	res, err := cl.RetryAll(lctx, filter)
	if err != nil {
		return explain(err, c.g.prefix)
	}
	views := make([]retriedView, 0, len(res))
	failed := 0
	for _, r := range res {
		v := retriedView{ID: r.ID, NewID: r.NewID}
		if r.Err != nil {
			v.Error = r.Err.Error()
			if !errors.Is(r.Err, client.ErrAlreadyRetried) {
				failed++
			}
		}
		views = append(views, v)
	}
	if c.asJSON {
		if err := printJSON(c.stdout, views); err != nil {
			return err
		}
	} else {
		for _, v := range views {
			if v.Error != "" {
				fmt.Fprintf(c.stdout, "%s: not retried: %s\n", v.ID, v.Error)
			} else {
				fmt.Fprintf(c.stdout, "%s -> %s\n", v.ID, v.NewID)
			}
		}
		fmt.Fprintf(c.stderr, "retried %d of %d dead letters\n", len(views)-countErrors(views), len(views))
	}
	if failed > 0 {
		return &codeError{code: exitError, err: fmt.Errorf("%d dead letters could not be retried", failed)}
	}
	return nil
}

func countErrors(vs []retriedView) int {
	n := 0
	for _, v := range vs {
		if v.Error != "" {
			n++
		}
	}
	return n
}

// parseFilter parses the flags shared by retry and purge: one task id, or
// --all with its filters.
func (c *retryCmd) parseFilter(args []string) (client.RetryFilter, error) {
	if err := c.parseInterspersed(args); err != nil {
		return client.RetryFilter{}, err
	}
	switch {
	case c.all && len(c.args) != 0:
		return client.RetryFilter{}, c.usage("give a task ID or --all, not both")
	case !c.all && (c.queue != "" || c.since != 0):
		return client.RetryFilter{}, c.usage("--queue and --since go with --all")
	case !c.all:
		if _, err := c.oneID(); err != nil {
			return client.RetryFilter{}, err
		}
		return client.RetryFilter{}, nil
	case c.queue != "" && messages.ValidQueue(c.queue) != nil:
		return client.RetryFilter{}, c.usage("--queue: %v", messages.ValidQueue(c.queue))
	case c.limit < 1 || c.limit > client.MaxListLimit:
		return client.RetryFilter{}, c.usage("--limit %d is not within 1 and %d", c.limit, client.MaxListLimit)
	case c.since < 0:
		return client.RetryFilter{}, c.usage("--since %v is negative", c.since)
	}
	f := client.RetryFilter{Queue: c.queue, Limit: c.limit}
	if c.since > 0 {
		f.Since = time.Now().Add(-c.since)
	}
	return f, nil
}
