package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
)

func TestDashboardRefusesOffLoopbackWithoutToken(t *testing.T) {
	srv := natstest.Start(t)
	r := submitIn(t.Context(), t, srv, "", "dashboard", "--listen", "0.0.0.0:0")
	if r.code != exitUsage || !strings.Contains(r.stderr, "--token or JETRUN_DASHBOARD_TOKEN") {
		t.Errorf("dashboard off loopback without a token: exit %d, stderr %q; want a usage error naming --token", r.code, r.stderr)
	}
}

var servingRE = regexp.MustCompile(`serving (http://\S+/)`)

// TestDashboardServesWithTheEnvToken: the token comes from the
// environment, every request needs it, and Ctrl-C stops the server.
func TestDashboardServesWithTheEnvToken(t *testing.T) {
	srv := natstest.Start(t)
	startWorker(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	var stdout, stderr testproc.Buffer
	s := ioStreams{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr,
		lookupEnv: func(k string) (string, bool) {
			if k == envDashboardToken {
				return "env-token", true
			}
			return "", false
		}}
	done := make(chan int, 1)
	go func() {
		done <- exitStatus(s.run(ctx, []string{"--nats", srv.ClientURL(), "dashboard", "--listen", "127.0.0.1:0"}), s.stderr)
	}()
	var url string
	natstest.Eventually(t, 10*time.Second, func() bool {
		m := servingRE.FindStringSubmatch(stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, "dashboard did not say where it serves: %q", stderr.String())

	get := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d, want 401", code)
	}
	if code, body := get("env-token"); code != http.StatusOK || !strings.Contains(body, "Overview") {
		t.Errorf("env token: %d, want the overview", code)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("dashboard after Ctrl-C: exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dashboard did not stop on Ctrl-C")
	}
}
