package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/jetrun/jetrun/internal/dashboard"
)

// envDashboardToken is where submit dashboard reads its token when
// --token is not given: an environment variable keeps it out of ps.
const envDashboardToken = "JETRUN_DASHBOARD_TOKEN"

const dashboardAbout = `Serves the web dashboard: queues, live workers, one task's status,
output (live), samples and result, with Cancel. Everything is read from
JetStream over submit's NATS connection (--nats, --creds, --inbox-prefix).

It listens on loopback by default. Any other address needs a token
(--token or ` + envDashboardToken + `), which every request must carry:
basic auth with the token as the password, or "Authorization: Bearer
TOKEN". --read-only removes every action.`

// dashboardCmd is submit dashboard: the web dashboard.
type dashboardCmd struct {
	*command
	cfg dashboard.Config
}

func newDashboardCmd(s ioStreams, g *globals) *dashboardCmd {
	c := &dashboardCmd{command: newCommand(s, g, "dashboard", "submit dashboard [--listen ADDR] [--token TOKEN] [--read-only]", dashboardAbout, nil)}
	c.fs.StringVar(&c.cfg.Listen, "listen", dashboard.DefaultListen, "`ADDR` (host:port) to serve on; off loopback it needs a token")
	c.fs.StringVar(&c.cfg.Token, "token", "", "`TOKEN` every request must carry (default $"+envDashboardToken+")")
	c.fs.BoolVar(&c.cfg.ReadOnly, "read-only", false, "show only: no cancel, retry or purge")
	return c
}

// Run serves the dashboard until ctx ends (Ctrl-C).
func (c *dashboardCmd) Run(ctx context.Context, args []string) error {
	if err := c.parseInterspersed(args); err != nil {
		return err
	}
	if len(c.args) != 0 {
		return c.usage("takes no arguments, got %q", c.args)
	}
	if c.cfg.Token == "" {
		c.cfg.Token, _ = c.lookupEnv(envDashboardToken)
	}
	if err := c.cfg.Validate(); err != nil {
		if errors.Is(err, dashboard.ErrNeedToken) {
			return c.usage("--listen %s is not a loopback address: give a token (--token or %s) so that not anyone who can reach it can act on tasks", c.cfg.Listen, envDashboardToken)
		}
		return c.usage("%v", err)
	}
	nc, cl, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer nc.Close()
	c.cfg.Logger = slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := dashboard.New(c.cfg, cl)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(c.stderr, "submit dashboard: serving http://%s/ (Ctrl-C stops)\n", l.Addr())
	if err := srv.Serve(ctx, l); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
