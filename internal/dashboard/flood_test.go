package dashboard_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/dashboard"
	"github.com/jetrun/jetrun/internal/testimage/testee"
)

// TestFloodingTaskKeepsTheLiveTailBounded: a task writing output as fast
// as it can, watched by a browser that reads slowly, costs the live stream
// a bounded tail (it says what it skipped), and the stored log the page
// links to is complete.
func TestFloodingTaskKeepsTheLiveTailBounded(t *testing.T) {
	const tailMax, mib = 128 << 10, 6
	e := newEnv(t, dashboard.Config{LogTail: tailMax})
	e.submit("flood", "sleep", "300ms", ";", "write", "6", ";", "sleep", "300ms")

	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.url+"/tasks/flood/live", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("live stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The reader is away until the task has ended...
	res := e.result("flood", 2*time.Minute)
	if res.LogBytes != mib<<20 {
		t.Fatalf("result: %d output bytes, want %d", res.LogBytes, mib<<20)
	}
	// ...then reads what the stream sent, to its end.
	var got strings.Builder
	done := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		got.WriteString(sc.Text())
		got.WriteByte('\n')
		if sc.Text() == "event: done" {
			done = true
			break
		}
	}
	if !done {
		t.Fatalf("live stream ended without its done event: %v", sc.Err())
	}
	if !strings.Contains(got.String(), "skipped: the live tail fell behind") {
		t.Error("the live stream skipped output without saying so")
	}
	if n := got.Len(); n > mib<<20/2 {
		t.Errorf("live stream sent %d bytes for %d MiB of output: the tail is not bounded", n, mib)
	}
	t.Logf("live stream: %d bytes for %d MiB of output", got.Len(), mib)

	// The whole stored log, byte for byte.
	code, body, _ := e.get("/tasks/flood/log", nil)
	if code != http.StatusOK || len(body) != mib<<20 {
		t.Fatalf("stored log: %d, %d bytes, want %d", code, len(body), mib<<20)
	}
	for i := range len(body) {
		if body[i] != testee.PatternByte(int64(i)) {
			t.Fatalf("stored log: byte %d is %d, want %d", i, body[i], testee.PatternByte(int64(i)))
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}
