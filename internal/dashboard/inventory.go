package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// sinceChoices are the windows the task filters offer, as Go durations.
var sinceChoices = []string{"15m", "1h", "6h", "24h", "168h"}

// listQuery is a task list's filters, read from the URL.
type listQuery struct {
	State, Queue, Worker, Since, ID string
	Before                          time.Time
	Dead                            bool
}

// parseListQuery reads the filters of r; a bad value is an error the page
// shows.
func parseListQuery(r *http.Request, dead bool) (listQuery, error) {
	q := r.URL.Query()
	lq := listQuery{State: q.Get("state"), Queue: q.Get("queue"), Worker: q.Get("worker"), Since: q.Get("since"), ID: q.Get("id"), Dead: dead}
	if v := q.Get("before"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return lq, errors.New("before: not a time")
		}
		lq.Before = t
	}
	if lq.Since != "" {
		if _, err := time.ParseDuration(lq.Since); err != nil {
			return lq, errors.New("since: not a duration (15m, 1h, 24h)")
		}
	}
	if lq.ID != "" && !messages.ValidID(lq.ID) {
		return lq, errors.New("id: 1 to 128 of A-Z a-z 0-9 _ -")
	}
	return lq, nil
}

// options are the client's list options for q, its since window ending
// now.
func (q listQuery) options() client.ListOptions {
	o := client.ListOptions{State: client.TaskState(q.State), Queue: q.Queue, Worker: q.Worker, Before: q.Before, Dead: q.Dead}
	if d, err := time.ParseDuration(q.Since); err == nil && q.Since != "" {
		o.Since = time.Now().Add(-d)
	}
	return o
}

// values are q as URL parameters, without the cursor.
func (q listQuery) values() url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"state": q.State, "queue": q.Queue, "worker": q.Worker, "since": q.Since, "id": q.ID} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// listData is a task list page; its live part is re-rendered as tasks
// change.
type listData struct {
	Q        listQuery
	Page     *client.TaskPage
	Err      string
	CSRF     string
	ReadOnly bool
	States   []string
	Sinces   []string
	Took     time.Duration
}

// Live is the URL of the list's live stream: only its first page updates.
func (d *listData) Live() string {
	if !d.Q.Before.IsZero() {
		return ""
	}
	path := "/live/tasks"
	if d.Q.Dead {
		path = "/live/dead"
	}
	if v := d.Q.values().Encode(); v != "" {
		return path + "?" + v
	}
	return path
}

// NextURL is the link to the next (older) page.
func (d *listData) NextURL() string {
	if d.Page == nil || !d.Page.More {
		return ""
	}
	v := d.Q.values()
	v.Set("before", d.Page.Next.Format(time.RFC3339Nano))
	path := "/tasks"
	if d.Q.Dead {
		path = "/dead"
	}
	return path + "?" + v.Encode()
}

// Filter is the filters as URL values (the bulk actions' hidden fields).
func (d *listData) Filter() url.Values { return d.Q.values() }

func (s *Server) list(ctx context.Context, q listQuery, csrf string) *listData {
	ctx, cancel := context.WithTimeout(ctx, lookupTimeout)
	defer cancel()
	d := &listData{Q: q, CSRF: csrf, ReadOnly: s.cfg.ReadOnly, Sinces: sinceChoices,
		States: []string{messages.TaskQueued, messages.TaskRunning, messages.TaskSucceeded, messages.TaskFailed, messages.TaskCancelled}}
	if q.Dead {
		d.States = []string{messages.TaskFailed, messages.TaskCancelled}
	}
	start := time.Now()
	if q.ID != "" {
		det, err := s.b.Inspect(ctx, q.ID)
		switch {
		case errors.Is(err, client.ErrUnknownTask):
			d.Page = &client.TaskPage{}
		case err != nil:
			d.Err = err.Error()
		case q.Dead && !det.Dead:
			d.Page = &client.TaskPage{}
		default:
			d.Page = &client.TaskPage{Tasks: []client.TaskSummary{det.TaskSummary}}
		}
	} else {
		p, err := s.b.List(ctx, q.options())
		if err != nil {
			d.Err = err.Error()
		}
		d.Page = p
	}
	d.Took = time.Since(start).Round(time.Millisecond)
	return d
}

func (s *Server) listPage(w http.ResponseWriter, r *http.Request, dead bool) {
	tmpl, title, nav := "tasks", "Tasks", "tasks"
	if dead {
		tmpl, title, nav = "dead", "Dead letters", "dead"
	}
	q, err := parseListQuery(r, dead)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	s.render(w, r, http.StatusOK, tmpl, title, nav, s.list(r.Context(), q, s.csrfToken(w, r)))
}

func (s *Server) tasksPage(w http.ResponseWriter, r *http.Request) { s.listPage(w, r, false) }
func (s *Server) deadPage(w http.ResponseWriter, r *http.Request)  { s.listPage(w, r, true) }

func (s *Server) listLive(w http.ResponseWriter, r *http.Request, dead bool) {
	q, err := parseListQuery(r, dead)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q.Before = time.Time{}
	csrf := s.csrfToken(w, r)
	s.live(w, r, "list", func(ctx context.Context) (string, error) {
		d := s.list(ctx, q, csrf)
		d.Took = 0 // not a change
		return s.fragment("task-rows", d)
	})
}

func (s *Server) tasksLive(w http.ResponseWriter, r *http.Request) { s.listLive(w, r, false) }
func (s *Server) deadLive(w http.ResponseWriter, r *http.Request)  { s.listLive(w, r, true) }

// confirmData is the confirmation page of an action.
type confirmData struct {
	Action   string // the form's URL
	Question string
	Fields   url.Values
	CSRF     string
	Back     string
}

// confirmed reports whether the POST is the confirmation; otherwise it
// renders the confirmation page, which posts the same fields with
// confirm=yes.
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request, question, back string, fields url.Values) bool {
	if r.PostFormValue("confirm") == "yes" {
		return true
	}
	s.render(w, r, http.StatusOK, "confirm", "Confirm", "dead", confirmData{
		Action: r.URL.Path, Question: question, Fields: fields, CSRF: s.csrfToken(w, r), Back: back})
	return false
}

// retryTask retries one finished task (from its page or the dead letters).
func (s *Server) retryTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	if !s.confirmed(w, r, "Run task "+id+" again, as a new task ("+messages.RetryID(id)+")?", "/tasks/"+url.PathEscape(id), nil) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	next, err := s.b.Retry(ctx, id)
	if err != nil {
		s.errorPage(w, r, http.StatusConflict, err.Error())
		return
	}
	http.Redirect(w, r, "/tasks/"+url.PathEscape(next)+"?done=retry", http.StatusSeeOther)
}

// purgeTask removes one task's dead letter.
func (s *Server) purgeTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	if !s.confirmed(w, r, "Remove the dead letter of task "+id+"? It cannot be retried afterwards.", "/dead", nil) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), lookupTimeout)
	defer cancel()
	if err := s.b.Purge(ctx, id); err != nil {
		s.errorPage(w, r, http.StatusConflict, err.Error())
		return
	}
	http.Redirect(w, r, "/dead?done=purge&n=1", http.StatusSeeOther)
}

// deadFilter reads the bulk actions' filter from the form.
func deadFilter(r *http.Request) (client.RetryFilter, url.Values, string, error) {
	f := client.RetryFilter{Queue: r.PostFormValue("queue"), Limit: client.MaxListLimit}
	fields := url.Values{}
	what := "every dead letter"
	if f.Queue != "" {
		if err := messages.ValidQueue(f.Queue); err != nil {
			return f, nil, "", err
		}
		fields.Set("queue", f.Queue)
		what += " of queue " + f.Queue
	}
	if v := r.PostFormValue("since"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return f, nil, "", errors.New("since: not a duration")
		}
		f.Since = time.Now().Add(-d)
		fields.Set("since", v)
		what += " stored in the last " + v
	}
	return f, fields, what, nil
}

// retriedData is the outcome of retrying many.
type retriedData struct {
	Retried []client.Retried
	OK      int
}

func (s *Server) retryAll(w http.ResponseWriter, r *http.Request) {
	f, fields, what, err := deadFilter(r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !s.confirmed(w, r, "Retry "+what+" (at most "+strconv.Itoa(f.Limit)+")? Each runs again as a new task.", "/dead?"+fields.Encode(), fields) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	res, err := s.b.RetryAll(ctx, f)
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, err.Error())
		return
	}
	d := retriedData{Retried: res}
	for _, x := range res {
		if x.Err == nil {
			d.OK++
		}
	}
	s.render(w, r, http.StatusOK, "retried", "Retried", "dead", d)
}

func (s *Server) purgeAll(w http.ResponseWriter, r *http.Request) {
	f, fields, what, err := deadFilter(r)
	if err != nil {
		s.errorPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !s.confirmed(w, r, "Remove "+what+" (at most "+strconv.Itoa(f.Limit)+")? They cannot be retried afterwards.", "/dead?"+fields.Encode(), fields) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	n, err := s.b.PurgeAll(ctx, f)
	if err != nil {
		s.errorPage(w, r, http.StatusBadGateway, err.Error())
		return
	}
	http.Redirect(w, r, "/dead?done=purge&n="+strconv.Itoa(n), http.StatusSeeOther)
}

// notice is the message an action's redirect names: ?done=CODE, with n
// a count. Nothing from the URL is shown but the number.
func notice(q url.Values) string {
	n, _ := strconv.Atoi(q.Get("n"))
	switch q.Get("done") {
	case "cancel":
		return "Cancel sent: the task ends as cancelled once its worker has stopped it."
	case "retry":
		return "Retry submitted: this is the new task."
	case "purge":
		return "Removed " + strconv.Itoa(n) + " dead letter(s)."
	}
	return ""
}
