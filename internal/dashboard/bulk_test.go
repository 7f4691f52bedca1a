package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/internal/natstest"
)

// TestRetryAllThenPurgeAll: the dead letters page retries every dead
// letter after a confirmation, each once, and removes them all.
func TestRetryAllThenPurgeAll(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	e.submit("bulk-a", "exit", "1")
	e.submit("bulk-b", "exit", "2")
	e.result("bulk-a", time.Minute)
	e.result("bulk-b", time.Minute)
	dead := func() []string {
		p, err := e.c.List(t.Context(), client.ListOptions{Dead: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, s := range p.Tasks {
			ids = append(ids, s.ID)
		}
		return ids
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return len(dead()) == 2 }, "want 2 dead letters, have %v", dead())

	code, body, h := e.get("/dead", nil)
	m := csrfInput.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, `data-task="bulk-a"`) {
		t.Fatalf("dead letters page: %d, no csrf token or no bulk-a", code)
	}
	cookie := strings.Split(h.Get("Set-Cookie"), ";")[0]
	post := func(path string, form url.Values) (int, string, string) {
		form.Set("csrf", m[1])
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie)
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header.Get("Location")
	}

	if code, body, _ := post("/dead/retry", url.Values{"queue": {"default"}}); code != http.StatusOK || !strings.Contains(body, "Retry every dead letter of queue default") || !strings.Contains(body, `id="confirm"`) {
		t.Fatalf("retry all without confirming: %d, want the confirmation page", code)
	}
	if got := dead(); len(got) != 2 {
		t.Fatalf("asking for confirmation retried something: dead letters %v", got)
	}
	code, body, _ = post("/dead/retry", url.Values{"queue": {"default"}, "confirm": {"yes"}})
	if code != http.StatusOK || !strings.Contains(body, "Retried 2 of 2") || !strings.Contains(body, "bulk-a-r1") || !strings.Contains(body, "bulk-b-r1") {
		t.Fatalf("retry all: %d %s", code, body)
	}
	e.result("bulk-a-r1", time.Minute)
	e.result("bulk-b-r1", time.Minute)
	// Again: each was retried already, and says so.
	if _, body, _ := post("/dead/retry", url.Values{"confirm": {"yes"}}); !strings.Contains(body, "already retried") {
		t.Errorf("retrying all again does not say they were retried: %s", body)
	}
	natstest.Eventually(t, 10*time.Second, func() bool { return len(dead()) == 4 }, "want the 2 retries failed as dead letters too, have %v", dead())

	code, _, loc := post("/dead/purge", url.Values{"confirm": {"yes"}})
	if code != http.StatusSeeOther || loc != "/dead?done=purge&n=4" {
		t.Fatalf("purge all: %d to %q, want a redirect saying 4 removed", code, loc)
	}
	if got := dead(); len(got) != 0 {
		t.Errorf("after purge all: dead letters %v", got)
	}
	if _, body, _ := e.get(loc, nil); !strings.Contains(body, "Removed 4 dead letter(s).") || !strings.Contains(body, "No dead letter matches.") {
		t.Error("the page after purge all does not say what it removed")
	}
}
