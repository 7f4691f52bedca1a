package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jetrun/jetrun/client"
)

const workersAbout = `Lists the live workers: those holding their id's lease in the
JETRUN_WORKERS bucket. A worker that died drops out within 15 seconds.`

// workersCmd is submit workers: the live workers.
type workersCmd struct {
	*command
	asJSON bool
}

func newWorkersCmd(s ioStreams, g *globals) *workersCmd {
	c := &workersCmd{command: newCommand(s, g, "workers", "submit workers [--json]", workersAbout, nil)}
	c.fs.BoolVar(&c.asJSON, "json", false, "print a JSON array for machines")
	return c
}

// workerView is one line of submit workers.
type workerView struct {
	ID          string    `json:"id"`
	Host        string    `json:"host,omitempty"`
	PID         int       `json:"pid,omitempty"`
	Queue       string    `json:"queue"`
	Concurrency int       `json:"concurrency"`
	Running     []string  `json:"running"`
	Started     time.Time `json:"started"`
	Seen        time.Time `json:"seen"`
	Version     string    `json:"version,omitempty"`
}

// Run prints the live workers.
func (c *workersCmd) Run(ctx context.Context, args []string) error {
	nc, cl, err := c.noArgs(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	lctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	ws, err := cl.Workers(lctx)
	if errors.Is(err, client.ErrNoWorkersBucket) {
		return fmt.Errorf("%w: no worker of this version has ever run here (or the streams were not provisioned: worker --provision)", err)
	}
	if err != nil {
		return err
	}
	views := make([]workerView, 0, len(ws))
	for _, w := range ws {
		views = append(views, workerView{ID: w.ID, Host: w.Host, PID: w.PID, Queue: w.Queue, Concurrency: w.Concurrency,
			Running: append([]string{}, w.Running...), Started: w.Started, Seen: w.Seen, Version: w.Version})
	}
	if c.asJSON {
		return printJSON(c.stdout, views)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tQUEUE\tRUNNING\tSTARTED\tSEEN\tVERSION")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d %s\t%s ago\t%s ago\t%s\n", v.ID, v.Host, v.Queue, len(v.Running), v.Concurrency,
			strings.Join(v.Running, ","), time.Since(v.Started).Round(time.Second), time.Since(v.Seen).Round(time.Second), v.Version)
	}
	return tw.Flush()
}
