package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testimage"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/messages"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestHelpExplainsFlagsAndEnv(t *testing.T) {
	var stderr bytes.Buffer
	err := run(context.Background(), context.Background(), []string{"--help"}, io.Discard, &stderr)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("run --help: %v", err)
	}
	for _, want := range []string{"--nats", "JETRUN_NATS", "--embedded-listen", "127.0.0.1:4222", "--max-memory", "JETRUN_MAX_MEMORY", "--allowed-volume-roots", "--drain-timeout", "--concurrency", "--worker-id"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("--help does not mention %q", want)
		}
	}
}

func TestEnvAndFlags(t *testing.T) {
	t.Setenv("JETRUN_MAX_MEMORY", "1G")
	t.Setenv("JETRUN_QUEUE", "gpu")
	t.Setenv("JETRUN_ALLOWED_IMAGES", "docker.io/library/*, ghcr.io/acme/*")
	o, err := parseFlags([]string{"--queue", "cpu", "--concurrency", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.cfg.Policy.MaxMemory != 1<<30 || o.cfg.Queue != "cpu" || o.cfg.Concurrency != 3 || len(o.cfg.Policy.Allow.Images) != 2 {
		t.Errorf("parsed %+v: env then flags not applied", o.cfg)
	}
	t.Setenv("JETRUN_REPLICAS", "3")
	if o, err := parseFlags(nil, io.Discard); err != nil || o.cfg.Streams.Replicas != 3 {
		t.Errorf("JETRUN_REPLICAS=3: replicas %d, err %v", o.cfg.Streams.Replicas, err)
	}
	if _, err := parseFlags([]string{"--replicas", "7"}, io.Discard); !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--replicas") {
		t.Errorf("--replicas 7: err = %v, want a usage error naming --replicas", err)
	}
	t.Setenv("JETRUN_MAX_MEMORY", "lots")
	if _, err := parseFlags(nil, io.Discard); err == nil || !strings.Contains(err.Error(), "JETRUN_MAX_MEMORY") {
		t.Errorf("bad env value: err = %v, want one naming JETRUN_MAX_MEMORY", err)
	}
}

// TestZeroConfigRunsATask starts the worker as a user would with no NATS
// URL, publishes a msgpack task to its embedded server, and reads the
// result; then stops it like SIGTERM does.
func TestZeroConfigRunsATask(t *testing.T) {
	image := testimage.Ensure(t)
	listen := fmt.Sprintf("127.0.0.1:%d", testproc.FreePort(t))
	var stdout, stderr testproc.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, context.Background(), []string{"--embedded-listen", listen, "--data-dir", t.TempDir(), "--metrics-addr", "127.0.0.1:0", "--worker-id", "zero-config"}, &stdout, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("worker did not stop")
		}
		if t.Failed() {
			t.Logf("worker stderr:\n%s", stderr.String())
		}
	})

	var nc *nats.Conn
	natstest.Eventually(t, 30*time.Second, func() bool {
		var err error
		nc, err = nats.Connect("nats://" + listen)
		return err == nil
	}, "embedded server never listened on %s", listen)
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	data, _ := messages.Encode(&messages.Task{ID: "zero-1", Image: image, Cmd: []string{"echo", "hi"}})
	natstest.Eventually(t, 30*time.Second, func() bool {
		pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer pcancel()
		_, err := js.Publish(pctx, "jetrun.tasks.default", data, jetstream.WithMsgID("zero-1"))
		return err == nil
	}, "could not publish the task")

	var res *messages.Result
	natstest.Eventually(t, 2*time.Minute, func() bool {
		gctx, gcancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer gcancel()
		st, err := js.Stream(gctx, messages.EventsStream)
		if err != nil {
			return false
		}
		m, err := st.GetLastMsgForSubject(gctx, "jetrun.events.zero-1.result")
		if err != nil {
			return false
		}
		res, err = messages.DecodeResult(m.Data)
		return err == nil
	}, "no result")
	if res.Status != messages.ResultSuccess || res.Worker != "zero-config" || res.LogBytes != 3 {
		t.Fatalf("result = %+v", res)
	}

	addr := regexp.MustCompile(`http://([0-9.:]+)/metrics`).FindStringSubmatch(stdout.String())
	if addr == nil {
		t.Fatalf("metrics address not printed: %q", stdout.String())
	}
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": `jetrun_tasks_total{status="success"} 1`} {
		resp, err := http.Get("http://" + addr[1] + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d, want 200 with %q", path, resp.StatusCode, want)
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

func TestInboxPrefixFlag(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.inboxPrefix != "_INBOX" {
		t.Errorf("default inbox prefix %q; want nats.go's _INBOX", o.inboxPrefix)
	}
	t.Setenv("JETRUN_INBOX_PREFIX", "_INBOX_worker")
	if o, err = parseFlags(nil, io.Discard); err != nil || o.inboxPrefix != "_INBOX_worker" {
		t.Errorf("JETRUN_INBOX_PREFIX: %q, %v", o.inboxPrefix, err)
	}
	for _, bad := range []string{"", "_INBOX.>", "_INBOX.*", "_INBOX."} {
		if _, err := parseFlags([]string{"--inbox-prefix", bad}, io.Discard); !errors.As(err, new(usageError)) || !strings.Contains(err.Error(), "--inbox-prefix") {
			t.Errorf("--inbox-prefix %q: %v; want a usage error naming the flag", bad, err)
		}
	}
}
