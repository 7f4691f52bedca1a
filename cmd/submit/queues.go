package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
)

const queuesAbout = `Lists the queues: tasks queued (stored in JETRUN_TASKS and not held by a
worker), running (held by live workers, as of their last lease write),
redelivered (delivered more than once), dead letters (JETRUN_DEAD), tasks
finished in the last minute and hour (JETRUN_INDEX), and the live workers
consuming each with their slots.`

// queuesCmd is submit queues: every queue with tasks or workers.
type queuesCmd struct {
	*command
	asJSON bool
}

func newQueuesCmd(s ioStreams, g *globals) *queuesCmd {
	c := &queuesCmd{command: newCommand(s, g, "queues", "submit queues [--json]", queuesAbout, nil)}
	c.fs.BoolVar(&c.asJSON, "json", false, "print a JSON array for machines")
	return c
}

// queueView is one line of submit queues.
type queueView struct {
	Queue          string   `json:"queue"`
	Queued         uint64   `json:"queued"`
	Running        int      `json:"running"`
	InFlight       uint64   `json:"in_flight"`
	Redelivered    uint64   `json:"redelivered"`
	Dead           uint64   `json:"dead_letters"`
	Failed         uint64   `json:"failed"`
	FinishedMinute uint64   `json:"finished_last_minute"`
	FinishedHour   uint64   `json:"finished_last_hour"`
	Workers        []string `json:"workers"`
	Slots          int      `json:"slots"`
}

// Run prints the queues.
func (c *queuesCmd) Run(ctx context.Context, args []string) error {
	nc, cl, err := c.noArgs(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	qs, err := cl.Queues(lctx)
	if err != nil {
		return explain(err, c.g.prefix)
	}
	views := make([]queueView, 0, len(qs))
	for _, q := range qs {
		views = append(views, queueView{Queue: q.Name, Queued: q.Queued(), Running: q.Running, InFlight: q.InFlight, Redelivered: q.Redelivered,
			Dead: q.Dead, Failed: q.Failed, FinishedMinute: q.FinishedLastMinute, FinishedHour: q.FinishedLastHour,
			Workers: append([]string{}, q.Workers...), Slots: q.Slots})
	}
	if c.asJSON {
		return printJSON(c.stdout, views)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tQUEUED\tRUNNING\tREDELIVERED\tDEAD\tFAILED\tDONE/1M\tDONE/1H\tSLOTS\tWORKERS")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", v.Queue, v.Queued, v.Running, v.Redelivered, v.Dead, v.Failed,
			v.FinishedMinute, v.FinishedHour, v.Slots, strings.Join(v.Workers, ","))
	}
	return tw.Flush()
}
