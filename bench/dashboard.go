package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// dashboardGets is how many first-page loads one repeat averages.
const dashboardGets = 10

// dashboard measures the dashboard's task list over many stored tasks:
// the first page of /tasks, rendered and served over loopback HTTP,
// against the client.List call behind it (what `submit ls` costs).
func (h *harness) dashboard(ctx context.Context) (*result, error) {
	n := h.cfg.dashboardTasks
	r := &result{
		Name: benchDashboard, Unit: "s", Lower: true, Target: 0.5,
		JetrunWhat: fmt.Sprintf("GET /tasks of the dashboard (its first page: %d tasks, rendered with html/template, served by net/http over loopback), over %d finished tasks in JETRUN_INDEX; the mean of %d loads",
			client.DefaultListLimit, n, dashboardGets),
		BaselineWhat: fmt.Sprintf("client.List of the same page (the read behind it, as `submit ls`), the mean of %d calls", dashboardGets),
	}
	env, conns, err := h.startNATSConns("bench-dashboard")
	if err != nil {
		return nil, err
	}
	defer env.close()
	nc := conns[0]
	if err := fillDashboardIndex(ctx, nc, n); err != nil {
		return nil, err
	}
	c, err := client.New(nc)
	if err != nil {
		return nil, err
	}
	d, err := dashboard.New(dashboard.Config{}, c)
	if err != nil {
		return nil, err
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()

	jet := func(ctx context.Context, rep int) (float64, error) {
		start := time.Now()
		for range dashboardGets {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/tasks", nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				return 0, err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return 0, err
			}
			if rows := strings.Count(string(body), `<tr data-task=`); resp.StatusCode != http.StatusOK || rows != client.DefaultListLimit {
				return 0, fmt.Errorf("GET /tasks: %d with %d rows, want %d", resp.StatusCode, rows, client.DefaultListLimit)
			}
		}
		return time.Since(start).Seconds() / dashboardGets, nil
	}
	base := func(ctx context.Context, rep int) (float64, error) {
		start := time.Now()
		for range dashboardGets {
			p, err := c.List(ctx, client.ListOptions{})
			if err != nil {
				return 0, err
			}
			if len(p.Tasks) != client.DefaultListLimit {
				return 0, fmt.Errorf("list: %d tasks, want %d", len(p.Tasks), client.DefaultListLimit)
			}
		}
		return time.Since(start).Seconds() / dashboardGets, nil
	}
	if err := h.repeat(ctx, r, jet, base); err != nil {
		return nil, err
	}
	ms := make([]float64, len(r.Jetrun))
	for i, s := range r.Jetrun {
		ms[i] = s * 1000
	}
	r.Extra = append(r.Extra, extra{Key: "first_page_ms", Label: fmt.Sprintf("dashboard /tasks first page over %d tasks", n), Unit: "ms", Vals: ms})
	r.Notes = append(r.Notes, "The issue's bound: the first page over 100,000 stored tasks renders in well under a second.")
	return r, nil
}

// fillDashboardIndex stores n finished tasks' index records, as workers publish
// them, over four queues and the three finished states.
func fillDashboardIndex(ctx context.Context, nc *nats.Conn, n int) error {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	if err := worker.EnsureStreams(ctx, js, messages.DefaultPrefix); err != nil {
		return err
	}
	subj := messages.NewSubjects(messages.DefaultPrefix)
	queues := []string{"default", "batch", "gpu", "reports"}
	now := time.Now().UTC()
	for i := range n {
		state, status, code := messages.TaskSucceeded, messages.ResultSuccess, 0
		switch {
		case i%50 == 0:
			state, status, code = messages.TaskCancelled, messages.ResultCancelled, -1
		case i%10 == 0:
			state, status, code = messages.TaskFailed, messages.ResultError, 1
		}
		id, q := fmt.Sprintf("bench-%07d", i), queues[i%len(queues)]
		fin := now.Add(-time.Duration(n-i) * time.Second)
		data, err := messages.Encode(&messages.Summary{
			ID: id, Queue: q, State: state, Status: status, ExitCode: code, Attempt: 1, Worker: "bench-worker",
			Submitted: fin.Add(-2 * time.Second), Started: fin.Add(-time.Second), Finished: fin,
			Spec: &messages.Task{ID: id, Image: "busybox", Cmd: []string{"true"}},
		})
		if err != nil {
			return err
		}
		msg := &nats.Msg{Subject: subj.Index(state, q, id), Data: data, Header: nats.Header{}}
		msg.Header.Set(messages.MsgIDHeader, messages.IndexMsgID(id))
		if _, err := js.PublishMsgAsync(msg); err != nil {
			return fmt.Errorf("index %s: %w", id, err)
		}
		if (i+1)%2048 == 0 || i == n-1 {
			select { // in batches, below the pending limit
			case <-js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	}
	return nil
}
