package dashboard_test

import (
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/internal/natstest"
)

// TestRefusesOffLoopbackWithoutToken: a dashboard anyone on the network
// could reach does not start without a token.
func TestRefusesOffLoopbackWithoutToken(t *testing.T) {
	for _, tc := range []struct {
		listen, token string
		ok            bool
	}{
		{"127.0.0.1:8080", "", true},
		{"localhost:0", "", true},
		{"[::1]:8080", "", true},
		{"0.0.0.0:8080", "", false},
		{":8080", "", false},
		{"192.168.1.10:8080", "", false},
		{"0.0.0.0:8080", "s3cret", true},
	} {
		err := dashboard.Config{Listen: tc.listen, Token: tc.token}.Validate()
		if tc.ok != (err == nil) || !tc.ok && !errors.Is(err, dashboard.ErrNeedToken) {
			t.Errorf("listen %q token %q: err = %v, want ok=%v", tc.listen, tc.token, err, tc.ok)
		}
	}
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestSecurity checks what protects a dashboard's users: the headers, the
// Host check, the token, cross-origin and CSRF protection of actions, and
// read-only mode.
func TestSecurity(t *testing.T) {
	e := newEnv(t, dashboard.Config{})
	e.submit("sec-long", "sleep", "1m")
	e.submit("sec-other", "sleep", "1m")

	code, body, h := e.get("/tasks/sec-long", nil)
	if code != http.StatusOK {
		t.Fatalf("GET task: %d %s", code, body)
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("Content-Security-Policy %q: want scripts from self only, nothing unsafe", csp)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Error("page has an inline script or style, which the CSP would block")
	}

	t.Run("dns rebinding", func(t *testing.T) {
		code, _, _ := e.get("/", func(r *http.Request) { r.Host = "evil.example:8080" })
		if code != http.StatusMisdirectedRequest {
			t.Errorf("Host evil.example: %d, want %d", code, http.StatusMisdirectedRequest)
		}
	})

	// An action needs the cookie's CSRF token and a same-origin request.
	m := csrfInput.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("task page has no cancel form with a csrf token")
	}
	// A first visit gets one nonce (a browser keeps the last of several,
	// and forms made for another would be refused).
	if n := len(h.Values("Set-Cookie")); n != 1 {
		t.Fatalf("first visit set %d cookies, want one CSRF nonce", n)
	}
	cookie := h.Get("Set-Cookie")
	postTo := func(path string, form url.Values, mod func(*http.Request)) int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", strings.Split(cookie, ";")[0])
		if mod != nil {
			mod(req)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(id string, form url.Values, mod func(*http.Request)) int {
		return postTo("/tasks/"+id+"/cancel", form, mod)
	}
	if c := post("sec-other", url.Values{"csrf": {"forged"}}, nil); c != http.StatusForbidden {
		t.Errorf("cancel with a forged csrf token: %d, want 403", c)
	}
	if c := post("sec-other", url.Values{"csrf": {m[1]}}, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }); c != http.StatusForbidden {
		t.Errorf("cross-site cancel: %d, want 403", c)
	}
	if c := post("sec-other", url.Values{"csrf": {m[1]}}, func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); c != http.StatusForbidden {
		t.Errorf("cancel from another origin: %d, want 403", c)
	}
	if st, _ := e.c.Status(t.Context(), "sec-other"); st.Result != nil {
		t.Fatalf("a refused cancel cancelled the task: %+v", st.Result)
	}
	if c := post("sec-long", url.Values{"csrf": {m[1]}}, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") }); c != http.StatusSeeOther {
		t.Fatalf("same-origin cancel with the page's token: %d, want 303", c)
	}
	if r := e.result("sec-long", time.Minute); r.Status != "cancelled" {
		t.Errorf("result after cancel: %s, want cancelled", r.Status)
	}
	// The cancelled task is a dead letter: a forged or cross-site purge
	// leaves it, a confirmed same-origin one removes it.
	isDead := func() bool {
		p, err := e.c.List(t.Context(), client.ListOptions{Dead: true})
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(p.Tasks, func(s client.TaskSummary) bool { return s.ID == "sec-long" })
	}
	natstest.Eventually(t, 10*time.Second, isDead, "cancelled task not kept as a dead letter")
	yes := url.Values{"csrf": {m[1]}, "confirm": {"yes"}}
	if c := postTo("/dead/purge", url.Values{"csrf": {"forged"}, "confirm": {"yes"}}, nil); c != http.StatusForbidden {
		t.Errorf("purge all with a forged csrf token: %d, want 403", c)
	}
	if c := postTo("/dead/purge", yes, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }); c != http.StatusForbidden {
		t.Errorf("cross-site purge all: %d, want 403", c)
	}
	if c := postTo("/tasks/sec-long/purge", url.Values{"csrf": {m[1]}}, nil); c != http.StatusOK {
		t.Errorf("purge without confirm: %d, want 200 (the confirmation page)", c)
	}
	if !isDead() {
		t.Fatal("a refused or unconfirmed purge removed the dead letter")
	}
	if c := postTo("/tasks/sec-long/purge", yes, nil); c != http.StatusSeeOther {
		t.Errorf("confirmed purge: %d, want 303", c)
	}
	if isDead() {
		t.Error("the dead letter is still listed after a confirmed purge")
	}

	t.Run("token", func(t *testing.T) {
		e.serve(dashboard.Config{Token: "s3cret"})
		if code, _, h := e.get("/", nil); code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Basic") {
			t.Errorf("no token: %d %q, want 401 asking for basic auth", code, h.Get("WWW-Authenticate"))
		}
		if code, _, _ := e.get("/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") }); code != http.StatusUnauthorized {
			t.Errorf("wrong token: %d, want 401", code)
		}
		if code, _, _ := e.get("/static/dashboard.css", nil); code != http.StatusUnauthorized {
			t.Errorf("asset without token: %d, want 401", code)
		}
		if code, body, _ := e.get("/", func(r *http.Request) { r.Header.Set("Authorization", "Bearer s3cret") }); code != http.StatusOK || !strings.Contains(body, "dash-worker") {
			t.Errorf("bearer token: %d, want the overview with the worker: %s", code, body)
		}
		if code, _, _ := e.get("/", func(r *http.Request) { r.SetBasicAuth("anyone", "s3cret") }); code != http.StatusOK {
			t.Errorf("basic auth: %d, want 200", code)
		}
		// With a token, any Host is fine: the token is the check.
		if code, _, _ := e.get("/", func(r *http.Request) { r.Host = "dash.example"; r.SetBasicAuth("", "s3cret") }); code != http.StatusOK {
			t.Errorf("token and another Host: %d, want 200", code)
		}
	})

	t.Run("read-only", func(t *testing.T) {
		e.serve(dashboard.Config{ReadOnly: true})
		code, body, _ := e.get("/tasks/sec-other", nil)
		if code != http.StatusOK || strings.Contains(body, `id="cancel"`) || !strings.Contains(body, "read-only") {
			t.Errorf("read-only task page: %d, cancel button shown or no read-only badge", code)
		}
		if c := post("sec-other", url.Values{"csrf": {m[1]}}, nil); c != http.StatusMethodNotAllowed && c != http.StatusForbidden {
			t.Errorf("read-only cancel: %d, want it refused", c)
		}
	})
}
