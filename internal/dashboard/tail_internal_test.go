package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/messages"
)

func TestTailKeepsTheNewestWithinItsBytes(t *testing.T) {
	tl := newTail(10)
	for _, s := range []string{"aaaa", "bbbb", "cccc", "dd"} {
		tl.add(&messages.Log{Data: []byte(s)})
	}
	chunks, skipped, seen := tl.take()
	var got strings.Builder
	for _, c := range chunks {
		got.Write(c.Data)
	}
	if got.String() != "bbbbccccdd" || skipped != 4 || seen != 4 {
		t.Errorf("tail holds %q, skipped %d, seen %d; want the newest 10 bytes, 4 skipped, 4 seen", got.String(), skipped, seen)
	}
	if c, s, _ := tl.take(); len(c) != 0 || s != 0 {
		t.Errorf("a second take returned %d chunks, %d skipped", len(c), s)
	}
}

func TestLogLinesMarkAnotherAttempt(t *testing.T) {
	attempt := 1 // the page's last chunk was attempt 1's
	lines := logLines([]*messages.Log{
		{Data: []byte("a"), Attempt: 1},
		{Data: []byte("b\xff"), Attempt: 2, Stream: messages.StreamStderr},
		{Data: []byte("c"), Attempt: 2},
	}, &attempt)
	if lines[0].Attempt != 0 || lines[1].Attempt != 2 || lines[2].Attempt != 0 || attempt != 2 {
		t.Errorf("attempt marks %d %d %d (last %d), want only the first chunk of attempt 2 marked", lines[0].Attempt, lines[1].Attempt, lines[2].Attempt, attempt)
	}
	if lines[1].Stream != "stderr" || lines[1].Text != "b\uFFFD" {
		t.Errorf("line %+v: want stderr with the invalid byte replaced", lines[1])
	}
}

// TestSendCannotForgeEvents: text with line breaks of any kind stays
// inside its event's data lines.
func TestSendCannotForgeEvents(t *testing.T) {
	rec := httptest.NewRecorder()
	st := &stream{w: rec, rc: http.NewResponseController(rec)}
	if err := st.send("log", "7", "one\r\nevent: done\rdata: x\n\nlast"); err != nil {
		t.Fatal(err)
	}
	want := "id: 7\nevent: log\ndata: one\ndata: event: done\ndata: data: x\ndata: \ndata: last\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("event:\n%q\nwant\n%q", got, want)
	}
}
