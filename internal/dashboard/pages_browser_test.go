package dashboard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/jetrun/jetrun/internal/dashboard"
)

// TestBrowser drives the dashboard in headless chromium against a real
// worker running containers, as an operator would use it.
func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	e := newEnv(t, dashboard.Config{})
	t.Cleanup(func() {
		for _, p := range b.take() {
			t.Errorf("browser: %s", p)
		}
	})

	t.Run("overview shows a new task without a reload", func(t *testing.T) {
		b.t = t
		b.open(e.url + "/")
		b.waitText("table.workers", "dash-worker", 10*time.Second)
		e.submit("ov-task", "sleep", "30s")
		// The worker's lease lists the tasks it runs (refreshed every 5 s).
		b.waitText("table.workers .running-tasks", "ov-task", 20*time.Second)
		b.stillSamePage()
		b.open(e.url + "/workers")
		b.waitText("table.workers .running-tasks", "ov-task", 10*time.Second)
		b.screenshot("workers")
	})

	t.Run("task page streams output live", func(t *testing.T) {
		b.t = t
		e.submit("log-task", "echo", "first line", ";", "sleep", "1500ms", ";", "echo", "second line", ";",
			"sleep", "1500ms", ";", "echoerr", "last line", ";", "alloc", "8", ";", "sleep", "600ms")
		b.open(e.url + "/tasks/log-task")
		b.waitText("#log", "first line", 20*time.Second)
		if strings.Contains(b.text("#log"), "last line") {
			t.Fatal("the last line was there with the first: not streamed live (the test task is too fast?)")
		}
		b.waitText("#log", "last line", 20*time.Second)
		b.waitText("#state", "success", 20*time.Second)
		b.waitText("#task", "Memory", 10*time.Second) // the samples' chart
		b.stillSamePage()
		b.screenshot("task")
		if got := b.text("#log"); strings.Count(got, "first line") != 1 || strings.Count(got, "second line") != 1 {
			t.Errorf("log shows %q: want each line once", got)
		}
	})

	t.Run("cancel", func(t *testing.T) {
		b.t = t
		e.submit("cancel-me", "echo", "started", ";", "sleep", "5m")
		// A first visit, straight to the task: no cookie yet.
		if _, err := chromedp.Call(b.ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatal(err)
		}
		b.open(e.url + "/tasks/cancel-me")
		b.waitText("#log", "started", 20*time.Second)
		b.waitText("#state", "running", 10*time.Second)
		b.click("#cancel")
		b.waitText(".notice", "Cancel sent", 10*time.Second)
		b.waitText("#state", "cancelled", 30*time.Second)
		b.waitText(".result-error", "cancelled from the dashboard", 5*time.Second)
	})

	t.Run("task output is text, never markup", func(t *testing.T) {
		b.t = t
		const evil = `<script>alert(1)</script><img src=x onerror=alert(2)>`
		e.submit("xss-task", "sleep", "1s", ";", "echo", evil, ";", "echoerr", "</pre><b>bold?</b>")
		b.open(e.url + "/tasks/xss-task") // the output arrives over the live stream
		b.waitText("#log", "<script>alert(1)</script>", 20*time.Second)
		b.waitText("#state", "success", 20*time.Second)
		check := func(how string) {
			var n int
			b.evalInto(`document.querySelectorAll("#log script, #log img, #log b, main script").length`, &n)
			if n != 0 {
				t.Errorf("%s: the output became %d elements", how, n)
			}
			if !strings.Contains(b.text("#log"), "</pre><b>bold?</b>") {
				t.Errorf("%s: log shows %q, want the text as printed", how, b.text("#log"))
			}
		}
		check("live")
		b.open(e.url + "/tasks/xss-task") // now rendered by the server
		check("rendered")
	})

	t.Run("task list shows new tasks and their changes live", func(t *testing.T) {
		b.t = t
		b.open(e.url + "/tasks")
		e.submit("list-task", "sleep", "12s", ";", "exit", "3")
		// Running tasks are listed from the worker's lease (every 5 s).
		b.waitText(`tr[data-task="list-task"]`, "running", 20*time.Second)
		b.waitText(`tr[data-task="list-task"]`, "failed", 30*time.Second)
		var rows int
		b.evalInto(`document.querySelectorAll('tr[data-task="list-task"]').length`, &rows)
		if rows != 1 {
			t.Errorf("the finished task is listed %d times", rows)
		}
		b.stillSamePage()
		b.screenshot("tasks")
		b.open(e.url + "/tasks?state=succeeded")
		if strings.Contains(b.text("#list"), "list-task") {
			t.Error("the failed task is listed under state=succeeded")
		}
	})

	t.Run("retry a failed task from the dead letters", func(t *testing.T) {
		b.t = t
		e.submit("dead-task", "echo", "try", ";", "exit", "7")
		if r := e.result("dead-task", time.Minute); r.ExitCode != 7 {
			t.Fatalf("result %+v, want exit code 7", r)
		}
		b.open(e.url + "/dead")
		b.waitText(`tr[data-task="dead-task"]`, "failed", 20*time.Second)
		b.screenshot("dead")
		b.click(`tr[data-task="dead-task"] form.retry button`)
		b.waitText(".question", "dead-task-r1", 10*time.Second) // asks first
		b.screenshot("confirm")
		b.click("#confirm")
		b.waitText(".notice", "Retry submitted", 10*time.Second)
		b.waitText("h1", "dead-task-r1", 5*time.Second)
		b.waitText("#task", "retry of", 5*time.Second)
		if r := e.result("dead-task-r1", time.Minute); r.ExitCode != 7 {
			t.Errorf("the retry's result %+v, want it to have run the same task (exit 7)", r)
		}
		b.waitText("#state", "error", 10*time.Second)
		b.open(e.url + "/tasks/dead-task")
		b.waitText("#retried-as", "dead-task-r1", 5*time.Second)
	})

	t.Run("overview counts what finished", func(t *testing.T) {
		b.t = t
		b.open(e.url + "/")
		// By now tasks have failed, been cancelled and retried.
		deadline := time.Now().Add(20 * time.Second)
		for {
			var dead, bars int
			b.evalInto(`+((document.querySelector('tr[data-queue="default"] td.dead') || {}).textContent || 0)`, &dead)
			b.evalInto(`[...document.querySelectorAll('tr[data-queue="default"] td.spark rect')].filter(r => +r.getAttribute("height") > 0).length`, &bars)
			if dead > 0 && bars > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("overview: %d dead letters, %d bars in the per-minute chart; want both", dead, bars)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.screenshot("overview")
	})

	t.Run("readable and usable with JavaScript off", func(t *testing.T) {
		b.t = t
		if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_, _ = chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: false})
		}()
		text := func(sel string) string {
			t.Helper()
			s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
			if err != nil {
				t.Fatalf("text of %s: %v", sel, err)
			}
			return s
		}
		nav := func(url string) {
			t.Helper()
			if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
				t.Fatal(err)
			}
		}
		nav(e.url + "/tasks/log-task")
		if got := text("#log"); !strings.Contains(got, "first line") || !strings.Contains(got, "last line") {
			t.Errorf("without JavaScript the task page shows output %q", got)
		}
		if got := text("#state"); got != "success" {
			t.Errorf("without JavaScript the task's state is %q", got)
		}
		e.submit("nojs-cancel", "echo", "up", ";", "sleep", "5m")
		deadline := time.Now().Add(20 * time.Second)
		for nav(e.url + "/tasks/nojs-cancel"); !strings.Contains(text("#state"), "running"); nav(e.url + "/tasks/nojs-cancel") {
			if time.Now().After(deadline) {
				t.Fatalf("state %q, want running", text("#state"))
			}
			time.Sleep(100 * time.Millisecond) // a reload is how a page without JavaScript updates
		}
		b.click("#cancel") // a plain form post
		if got := text(".notice"); !strings.Contains(got, "Cancel sent") {
			t.Errorf("after Cancel the page says %q", got)
		}
		if r := e.result("nojs-cancel", 30*time.Second); r.Status != "cancelled" {
			t.Errorf("result %s, want cancelled", r.Status)
		}
	})

	t.Run("token required", func(t *testing.T) {
		b.t = t
		e.serve(dashboard.Config{Token: "tok-3"})
		// Headless chromium cannot prompt for basic auth: the load fails;
		// a browser with a window asks for the token.
		if err := chromedp.Do(b.ctx, chromedp.Navigate(e.url+"/")); err == nil {
			b.waitText("body", "token required", 5*time.Second)
		} else if !strings.Contains(err.Error(), "AUTH") {
			t.Fatalf("open without the token: %v, want it refused for credentials", err)
		}
		if strings.Contains(b.text("body"), "dash-worker") {
			t.Fatal("the overview was shown without the token")
		}
		b.setAuth("tok-3")
		defer b.setAuth("")
		b.open(e.url + "/")
		b.waitText("table.workers", "dash-worker", 10*time.Second)
		e.submit("tok-task", "sleep", "30s")
		b.waitText("table.workers .running-tasks", "tok-task", 20*time.Second) // the live stream is authorised too
		b.stillSamePage()
		for _, p := range b.take() {
			if !strings.Contains(p, "status of 401") { // the refused load's
				t.Errorf("browser: %s", p)
			}
		}
	})
}
