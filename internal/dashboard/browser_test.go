package dashboard_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// requireBrowserEnv set non-empty turns "no chromium" from a skip into
	// a failure (CI sets it).
	requireBrowserEnv = "JETRUN_REQUIRE_BROWSER"
	// screenshotsEnv names a directory the browser tests write a PNG of
	// each page into (make screenshots: docs/dashboard).
	screenshotsEnv = "JETRUN_DASHBOARD_SCREENSHOTS"
)

// browser is a headless chromium tab, with what the page reported: script
// errors, CSP violations, and dialogs (none should ever open).
type browser struct {
	t   *testing.T
	ctx context.Context

	mu       sync.Mutex
	problems []string
}

// newBrowser starts headless chromium for the test, or skips the test
// when there is none (fails with JETRUN_REQUIRE_BROWSER=1).
func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv(requireBrowserEnv) != "" {
			t.Fatalf("no chromium on PATH and %s is set", requireBrowserEnv)
		}
		t.Skipf("browser tests skipped: no chromium on PATH (apt-get install chromium; %s=1 makes this a failure)", requireBrowserEnv)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // chromium refuses to run as root otherwise
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium %s: %v", path, err)
	}
	if _, err := chromedp.Call(ctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || m.Type == "error" {
				b.problem("console: " + m.String())
			}
		}
	}()
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			b.problem("a dialog opened: " + ev.Message)
			_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	return b
}

func (b *browser) problem(s string) {
	b.mu.Lock()
	b.problems = append(b.problems, s)
	b.mu.Unlock()
}

// take returns and forgets the problems reported so far.
func (b *browser) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// open navigates to url and marks the loaded page, so that stillSamePage
// can tell a live update from a reload.
func (b *browser) open(url string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Navigate(url)); err != nil {
		b.t.Fatalf("open %s: %v", url, err)
	}
	b.eval(`window.jetrunTestMark = "same page"`)
}

// stillSamePage fails the test when the page was reloaded since open.
func (b *browser) stillSamePage() {
	b.t.Helper()
	var mark string
	b.evalInto(`window.jetrunTestMark || "reloaded"`, &mark)
	if mark != "same page" {
		b.t.Error("the page was reloaded: the update did not arrive live")
	}
}

func (b *browser) eval(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
}

func (b *browser) evalInto(js string, v any) {
	b.t.Helper()
	raw, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]byte](js))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		b.t.Fatalf("eval %s: %s: %v", js, raw, err)
	}
}

// text returns the text of the first element sel matches ("" when none).
func (b *browser) text(sel string) string {
	b.t.Helper()
	var s string
	b.evalInto(`(document.querySelector(`+jsString(sel)+`) || {}).textContent || ""`, &s)
	return s
}

// waitText polls until the text of sel contains want.
func (b *browser) waitText(sel, want string, within time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(within)
	for {
		got := b.text(sel)
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("after %v: %s shows %q, want it to contain %q", within, sel, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browser) click(sel string) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, chromedp.Click(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("click %s: %v", sel, err)
	}
}

// screenshot writes the page to $JETRUN_DASHBOARD_SCREENSHOTS/name.png
// when that is set.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv(screenshotsEnv)
	if dir == "" {
		return
	}
	var png []byte
	var err error
	deadline := time.Now().Add(5 * time.Second)
	for { // a page just navigated to may not be laid out yet
		if png, err = chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// setAuth sends basic auth with token on every request of the tab (""
// sends none).
func (b *browser) setAuth(token string) {
	b.t.Helper()
	h := network.Headers{}
	if token != "" {
		h["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte("operator:"+token))
	}
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h}); err != nil {
		b.t.Fatal(err)
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
