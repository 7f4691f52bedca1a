package client_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// output collects what Follow delivers.
type output struct {
	mu     sync.Mutex
	text   strings.Builder
	states []string
}

func (o *output) opts() client.FollowOptions {
	return client.FollowOptions{
		OnStatus: func(s *messages.Status) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.states = append(o.states, s.State)
		},
		OnLog: func(l *messages.Log) error {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.text.WriteString(l.Stream + ": " + string(l.Data))
			return nil
		},
	}
}

func TestFollowReplaysOutputThenResult(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startWorker(t, e)
	for _, tc := range []struct {
		name     string
		reply    string
		replayed bool
	}{
		{"stored events", "", true},
		{"custom reply prefix", "mine.follow", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := task("follow-"+strings.ReplaceAll(tc.name, " ", "-"), "echo", "one", ";", "echoerr", "two", ";", "exit", "3")
			tk.Reply = tc.reply
			h := submit(t, e.c, tk)
			var out output
			f, err := h.Follow(testCtx(t), out.opts())
			if err != nil {
				t.Fatal(err)
			}
			if f.Result == nil || f.Result.ID != tk.ID || f.Result.ExitCode != 3 {
				t.Fatalf("result = %+v", f.Result)
			}
			if f.Replayed != tc.replayed || f.Lost != 0 || f.OutputErr != nil {
				t.Errorf("followed = %+v; want replayed %v, nothing lost", f, tc.replayed)
			}
			if got := out.text.String(); got != "stdout: one\nstderr: two\n" {
				t.Errorf("output = %q", got)
			}
			if len(out.states) == 0 || out.states[len(out.states)-1] != messages.StateRunning {
				t.Errorf("states = %q, want them to end with running", out.states)
			}
		})
	}
}

// TestForgedResultIsNotAccepted publishes, on task X's result subject, a
// result that carries another task's id, as a task whose reply prefix
// names X's subjects could: before X is submitted (found in JETRUN_EVENTS)
// and while it waits (live). Neither is returned as X's result, by the
// handle, Follow, Status, Logs or WatchResults; X's own result is.
func TestForgedResultIsNotAccepted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, client.WithResultPollInterval(50*time.Millisecond))
	ensureStreams(t, e.js, e.c.Prefix()) // no worker: only the forger publishes
	ctx := testCtx(t)
	subj := messages.ResultSubject(messages.NewSubjects(e.c.Prefix()).Events("victim"))
	publish := func(r *messages.Result) {
		t.Helper()
		data, err := messages.Encode(r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.js.Publish(ctx, subj, data); err != nil {
			t.Fatal(err)
		}
	}
	var watched []string
	var mu sync.Mutex
	stopWatch, err := e.c.WatchResults(func(r *messages.Result) {
		mu.Lock()
		defer mu.Unlock()
		watched = append(watched, r.ID)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stopWatch()

	forged := &messages.Result{ID: "attacker", Status: messages.ResultSuccess}
	publish(forged)
	h := submit(t, e.c, task("victim", "true"))
	natstest.Eventually(t, 10*time.Second, func() bool { return h.Mismatched() >= 1 }, "stored forged result not seen")
	publish(forged)
	natstest.Eventually(t, 10*time.Second, func() bool { return h.Mismatched() >= 2 }, "live forged result not seen")
	select {
	case <-h.Done():
		res, err := h.Result(ctx)
		t.Fatalf("handle finished with %+v, %v; want it still waiting", res, err)
	default:
	}
	if st, err := e.c.Status(ctx, "victim"); err == nil || st.Result != nil {
		t.Errorf("Status = %+v, %v; want no result for victim", st, err)
	}

	followed := make(chan client.Followed, 1)
	go func() {
		f, err := h.Follow(ctx, client.FollowOptions{OnLog: func(*messages.Log) error { return nil }})
		if err != nil {
			t.Errorf("Follow: %v", err)
		}
		followed <- f
	}()
	publish(&messages.Result{ID: "victim", Status: messages.ResultError, ExitCode: 7})
	f := <-followed
	if f.Result == nil || f.Result.ID != "victim" || f.Result.ExitCode != 7 || f.OutputErr != nil {
		t.Fatalf("Follow = %+v (result %+v); want victim's own result, output complete", f, f.Result)
	}
	if err := e.c.Logs(ctx, "victim", true, func(*messages.Log) error { return nil }); err != nil {
		t.Errorf("Logs -f past the forged results: %v", err)
	}
	if st, err := e.c.Status(ctx, "victim"); err != nil || st.Result == nil || st.Result.ExitCode != 7 {
		t.Errorf("Status = %+v, %v; want victim's result", st, err)
	}
	natstest.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(watched) == 1
	}, "WatchResults did not see victim's result")
	mu.Lock()
	defer mu.Unlock()
	if watched[0] != "victim" {
		t.Errorf("WatchResults saw %q; want only victim", watched)
	}
}
