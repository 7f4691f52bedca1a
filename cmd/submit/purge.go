package main

import (
	"context"
	"fmt"

	"github.com/jetrun/jetrun/client"
)

const purgeAbout = `Removes dead letters from JETRUN_DEAD: one task's, or with --all those
matching --queue and --since (at most --limit, newest first). A purged task
can no longer be retried; its result and index record stay. Purges are
counted, so the workers' jetrun_dead_letters_dropped_total counts only what
retention dropped.`

// purgeCmd is submit purge ID | --all.
type purgeCmd struct {
	*retryCmd
}

func newPurgeCmd(s ioStreams, g *globals) *purgeCmd {
	c := &purgeCmd{retryCmd: &retryCmd{command: newCommand(s, g, "purge", "submit purge ID | --all [--queue Q] [--since DURATION] [--limit N]", purgeAbout, nil)}}
	c.fs.BoolVar(&c.all, "all", false, "purge every dead letter matching --queue and --since")
	c.fs.StringVar(&c.queue, "queue", "", "with --all: only this queue's dead letters")
	c.fs.DurationVar(&c.since, "since", 0, "with --all: only dead letters stored within this long")
	c.fs.IntVar(&c.limit, "limit", client.MaxListLimit, fmt.Sprintf("with --all: at most this many, up to %d", client.MaxListLimit))
	return c
}

// Run purges one dead letter or those matching the filters.
func (c *purgeCmd) Run(ctx context.Context, args []string) error {
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
		if err := cl.Purge(lctx, c.args[0]); err != nil {
			return explain(err, c.g.prefix)
		}
		fmt.Fprintf(c.stdout, "purged %s\n", c.args[0])
		return nil
	}
	n, err := cl.PurgeAll(lctx, filter)
	if err != nil {
		return explain(err, c.g.prefix)
	}
	fmt.Fprintf(c.stdout, "purged %d dead letters\n", n)
	return nil
}
