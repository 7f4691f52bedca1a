package dashboard

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// lookupTimeout bounds the JetStream reads behind one page.
const lookupTimeout = 10 * time.Second

// routes is the dashboard's URL space, behind its security checks.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static())))
	mux.HandleFunc("GET /{$}", s.overviewPage)
	mux.HandleFunc("GET /live/overview", s.overviewLive)
	mux.HandleFunc("GET /workers", s.workersPage)
	mux.HandleFunc("GET /live/workers", s.workersLive)
	mux.HandleFunc("GET /tasks/{id}", s.taskPage)
	mux.HandleFunc("GET /tasks/{id}/log", s.taskLog)
	mux.HandleFunc("GET /tasks/{id}/live", s.taskLive)
	mux.HandleFunc("GET /tasks", s.tasksPage)
	mux.HandleFunc("GET /live/tasks", s.tasksLive)
	mux.HandleFunc("GET /dead", s.deadPage)
	mux.HandleFunc("GET /live/dead", s.deadLive)
	mux.HandleFunc("POST /tasks/{id}/cancel", s.action(s.cancelTask))
	mux.HandleFunc("POST /tasks/{id}/retry", s.action(s.retryTask))
	mux.HandleFunc("POST /tasks/{id}/purge", s.action(s.purgeTask))
	mux.HandleFunc("POST /dead/retry", s.action(s.retryAll))
	mux.HandleFunc("POST /dead/purge", s.action(s.purgeAll))
	return s.secure(mux)
}

// page is what every full page is rendered with.
type page struct {
	Title    string
	Nav      string
	CSRF     string
	ReadOnly bool
	Notice   string
	Data     any
}

// render writes the full page tmpl.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, tmpl, title, nav string, data any) {
	p := page{Title: title, Nav: nav, CSRF: s.csrfToken(w, r), ReadOnly: s.cfg.ReadOnly, Notice: notice(r.URL.Query()), Data: data}
	var buf bytes.Buffer
	if err := s.tmpl.ExecuteTemplate(&buf, tmpl, p); err != nil {
		s.cfg.Logger.Error("render", "page", tmpl, "err", err)
		http.Error(w, "dashboard: render "+tmpl+" failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fragment renders template name with data, for a live update.
func (s *Server) fragment(name string, data any) (string, error) {
	var buf bytes.Buffer
	err := s.tmpl.ExecuteTemplate(&buf, name, data)
	return buf.String(), err
}

// errorPage renders an error page.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	s.render(w, r, status, "error", http.StatusText(status), "", msg)
}

// chartTTL is how long a queue's per-minute counts are reused: they are
// sixty reads, and change by the minute.
const chartTTL = 10 * time.Second

type finishedCounts struct {
	at     time.Time
	counts []uint64
}

// finished returns queue's tasks finished per minute over the last hour,
// read at most every chartTTL.
func (s *Server) finished(ctx context.Context, queue string) ([]uint64, error) {
	s.chartMu.Lock()
	c, ok := s.charts[queue]
	s.chartMu.Unlock()
	if ok && time.Since(c.at) < chartTTL {
		return c.counts, nil
	}
	counts, err := s.b.Finished(ctx, queue, 60, time.Minute)
	if err != nil {
		return nil, err
	}
	s.chartMu.Lock()
	if len(s.charts) > 1000 { // queues come and go: never grow without bound
		clear(s.charts)
	}
	s.charts[queue] = finishedCounts{at: time.Now(), counts: counts}
	s.chartMu.Unlock()
	return counts, nil
}

// overviewData is the live part of the overview.
type overviewData struct {
	Queues  []queueRow
	Workers []client.Worker
	Err     string
}

type queueRow struct {
	client.Queue
	Waiting uint64
	// Chart is finished per minute over the last hour; Err says why
	// there is none.
	Chart    chart
	ChartErr string
}

func (s *Server) overview(ctx context.Context) overviewData {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	var d overviewData
	qs, err := s.b.Queues(ctx)
	if err != nil {
		d.Err = err.Error()
	}
	for _, q := range qs {
		row := queueRow{Queue: q, Waiting: q.Queued()}
		counts, err := s.finished(ctx, q.Name)
		if err != nil {
			row.ChartErr = err.Error()
		} else {
			row.Chart = chart{Title: "finished per minute, last hour", SVG: barsSVG("tasks of "+q.Name+" finished per minute over the last hour", counts)}
		}
		d.Queues = append(d.Queues, row)
	}
	ws, err := s.b.Workers(ctx)
	if err != nil && !errors.Is(err, client.ErrNoWorkersBucket) && d.Err == "" {
		d.Err = err.Error()
	}
	d.Workers = ws
	return d
}

func (s *Server) overviewPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "overview", "Overview", "overview", s.overview(r.Context()))
}

func (s *Server) overviewLive(w http.ResponseWriter, r *http.Request) {
	s.live(w, r, "overview", func(ctx context.Context) (string, error) {
		return s.fragment("overview-live", s.overview(ctx))
	})
}

func (s *Server) workersPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "workers", "Workers", "workers", s.overview(r.Context()))
}

func (s *Server) workersLive(w http.ResponseWriter, r *http.Request) {
	s.live(w, r, "workers", func(ctx context.Context) (string, error) {
		return s.fragment("workers-live", s.overview(ctx))
	})
}

// taskData is one task's page; its live part is re-rendered as it
// changes.
type taskData struct {
	ID       string
	CSRF     string
	ReadOnly bool
	// D is what the streams know; nil when nothing is (never submitted,
	// mistyped, or expired).
	D      *client.TaskDetail
	Err    string
	Charts []chart
	// Log is the tail of the stored output, Skipped the bytes before it
	// not shown, After the chunks the page holds (the live stream starts
	// after them).
	Log     []logLine
	Skipped int64
	After   int
	LogErr  string
}

// Done reports whether the task has a result.
func (d *taskData) Done() bool {
	return d.D != nil && (d.D.Result != nil || d.D.State == client.StateSucceeded ||
		d.D.State == client.StateFailed || d.D.State == client.StateCancelled)
}

// State is what the task is doing now, in one word: the result's status
// once it has one.
func (d *taskData) State() string {
	switch {
	case d.D == nil:
		return "unknown"
	case d.D.Result != nil:
		return d.D.Result.Status
	case d.D.Status != "":
		return d.D.Status
	case d.D.State == client.StateRunning && len(d.D.Statuses) > 0:
		return d.D.Statuses[len(d.D.Statuses)-1].State
	}
	return string(d.D.State)
}

// Latest is the task's latest status event, nil when none is stored.
func (d *taskData) Latest() *messages.Status {
	if d.D == nil || len(d.D.Statuses) == 0 {
		return nil
	}
	return &d.D.Statuses[len(d.D.Statuses)-1]
}

// CanRetry reports whether Retry is offered: finished, not retried yet.
func (d *taskData) CanRetry() bool { return d.Done() && d.D.RetriedAs == "" }

// task reads what is stored about task id.
func (s *Server) task(ctx context.Context, id, csrf string) *taskData {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	d := &taskData{ID: id, CSRF: csrf, ReadOnly: s.cfg.ReadOnly}
	det, err := s.b.Inspect(ctx, id)
	switch {
	case errors.Is(err, client.ErrUnknownTask):
	case err != nil:
		d.Err = err.Error()
	default:
		d.D = det
		if det.Result != nil {
			d.Charts = statCharts(det.Result.Stats)
		} else if stats, err := s.b.Stats(ctx, id); err == nil && len(stats) > 0 {
			// Still running: its samples so far, from the event stream.
			d.Charts = statCharts(stats)
		}
	}
	return d
}

// taskID returns the request's task id, or writes a 404.
func (s *Server) taskID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !messages.ValidID(id) {
		s.errorPage(w, r, http.StatusNotFound, "not a task id: 1 to 128 of A-Z a-z 0-9 _ -")
		return "", false
	}
	return id, true
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	csrf := s.csrfToken(w, r)
	d := s.task(r.Context(), id, csrf)
	if d.D != nil && d.D.State != client.StateQueued {
		ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
		t := newTail(s.cfg.LogTail)
		err := s.b.Logs(ctx, id, false, func(l *messages.Log) error { t.add(l); return nil })
		cancel()
		if err != nil {
			d.LogErr = err.Error()
		}
		chunks, skipped, seen := t.take()
		attempt := 0
		d.Log, d.Skipped, d.After = logLines(chunks, &attempt), skipped, seen
	}
	s.render(w, r, http.StatusOK, "task", "Task "+id, "tasks", d)
}

// taskLog writes the task's whole stored output as plain text.
func (s *Server) taskLog(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `inline; filename="`+id+`.log"`)
	wrote := false
	err := s.b.Logs(r.Context(), id, false, func(l *messages.Log) error {
		wrote = true
		_, err := w.Write(l.Data)
		return err
	})
	if err != nil && !wrote {
		http.Error(w, "dashboard: "+err.Error(), http.StatusBadGateway)
	}
}

// action wraps a POST handler in the CSRF check.
func (s *Server) action(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.ReadOnly {
			s.errorPage(w, r, http.StatusForbidden, "this dashboard is read-only: it takes no action")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !s.csrfOK(r) {
			s.errorPage(w, r, http.StatusForbidden, "this form has expired or did not come from this dashboard: reload the page and try again")
			return
		}
		h(w, r)
	}
}

func (s *Server) cancelTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	if err := s.b.Cancel(ctx, id, "cancelled from the dashboard"); err != nil {
		s.errorPage(w, r, http.StatusBadGateway, "cancel "+id+": "+err.Error())
		return
	}
	http.Redirect(w, r, "/tasks/"+url.PathEscape(id)+"?done=cancel", http.StatusSeeOther)
}
