package dashboard_test

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// indexEnv is a dashboard over streams filled by the test, no worker.
type indexEnv struct {
	t   *testing.T
	js  jetstream.JetStream
	url string
}

func newIndexEnv(t *testing.T, cfg dashboard.Config) *indexEnv {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.EnsureStreams(t.Context(), js, messages.DefaultPrefix); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.New(cfg, c)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(d.Handler())
	t.Cleanup(ts.Close)
	return &indexEnv{t: t, js: js, url: ts.URL}
}

// finished stores the index records of n finished tasks, as workers do,
// task-000 the oldest.
func (e *indexEnv) finished(n int, queue, state string) {
	e.t.Helper()
	subj := messages.NewSubjects(messages.DefaultPrefix)
	for i := range n {
		id := fmt.Sprintf("%s-%03d", queue, i)
		data, err := messages.Encode(&messages.Summary{ID: id, Queue: queue, State: state, Status: messages.ResultSuccess, Finished: time.Now()})
		if err != nil {
			e.t.Fatal(err)
		}
		msg := &nats.Msg{Subject: subj.Index(state, queue, id), Data: data, Header: nats.Header{}}
		msg.Header.Set(messages.MsgIDHeader, messages.IndexMsgID(id))
		if _, err := e.js.PublishMsg(e.t.Context(), msg); err != nil {
			e.t.Fatal(err)
		}
	}
}

func (e *indexEnv) get(path string) (int, string) {
	e.t.Helper()
	resp, err := http.Get(e.url + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var (
	rowRE  = regexp.MustCompile(`<tr data-task="([^"]+)"`)
	nextRE = regexp.MustCompile(`<a id="next" href="([^"]+)"`)
)

// TestTaskListPages: the list pages on the server, newest first, each
// task once, and its filters keep only what they name.
func TestTaskListPages(t *testing.T) {
	e := newIndexEnv(t, dashboard.Config{})
	e.finished(120, "batch", messages.TaskSucceeded)
	e.finished(3, "gpu", messages.TaskFailed)

	seen := map[string]bool{}
	path, pages := "/tasks?queue=batch", 0
	for path != "" {
		code, body := e.get(path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		rows := rowRE.FindAllStringSubmatch(body, -1)
		if pages++; pages == 1 && (len(rows) != client.DefaultListLimit || rows[0][1] != "batch-119") {
			t.Fatalf("first page: %d rows from %v, want %d from the newest", len(rows), rows[0], client.DefaultListLimit)
		}
		for _, r := range rows {
			if seen[r[1]] {
				t.Errorf("%s listed twice", r[1])
			}
			seen[r[1]] = true
		}
		path = ""
		if m := nextRE.FindStringSubmatch(body); m != nil {
			path = html.UnescapeString(m[1])
			if !strings.Contains(body, "Older tasks") || !strings.Contains(path, "queue=batch") {
				t.Fatalf("next page link %q drops the filter", path)
			}
		}
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("%d pages, %d tasks; want 3 pages listing each of the 120 once", pages, len(seen))
	}
	if _, body := e.get("/tasks?state=failed"); len(rowRE.FindAllString(body, -1)) != 3 || strings.Contains(body, "batch-") {
		t.Error("state=failed lists other tasks")
	}
	if _, body := e.get("/tasks?id=gpu-001"); len(rowRE.FindAllString(body, -1)) != 1 || !strings.Contains(body, `data-task="gpu-001"`) {
		t.Error("id=gpu-001 does not find exactly that task")
	}
	if code, _ := e.get("/tasks?since=yesterday"); code != http.StatusBadRequest {
		t.Errorf("since=yesterday: %d, want 400", code)
	}
}

// TestLiveStreamsAreBounded: past MaxStreams, a live stream is refused
// with 503 (the browser retries later), and a closed one frees its slot.
func TestLiveStreamsAreBounded(t *testing.T) {
	e := newIndexEnv(t, dashboard.Config{MaxStreams: 2})
	open := func() *http.Response {
		resp, err := http.Get(e.url + "/live/tasks")
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a, b := open(), open()
	if a.StatusCode != http.StatusOK || b.StatusCode != http.StatusOK {
		t.Fatalf("first two streams: %d %d", a.StatusCode, b.StatusCode)
	}
	c := open()
	c.Body.Close()
	if c.StatusCode != http.StatusServiceUnavailable || c.Header.Get("Retry-After") == "" {
		t.Errorf("third stream: %d (Retry-After %q), want 503 with Retry-After", c.StatusCode, c.Header.Get("Retry-After"))
	}
	a.Body.Close()
	natstest.Eventually(t, 10*time.Second, func() bool {
		r := open()
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}, "a closed stream's slot was not freed")
	b.Body.Close()
}
