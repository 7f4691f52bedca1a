package dashboard

import (
	"strings"
	"sync"

	"github.com/jetrun/jetrun/messages"
)

// tail holds the latest output chunks of a task, at most max bytes of
// them: a producer faster than the page drops the oldest and counts their
// bytes, so neither the server nor the browser falls behind without
// bound. The stored log stays complete.
type tail struct {
	max   int
	ready chan struct{} // signalled when chunks were added

	mu      sync.Mutex
	chunks  []*messages.Log
	bytes   int
	skipped int64
	seen    int // chunks ever added
}

func newTail(max int) *tail { return &tail{max: max, ready: make(chan struct{}, 1)} }

// add appends l, dropping the oldest chunks beyond max bytes; it never
// blocks.
func (t *tail) add(l *messages.Log) {
	t.mu.Lock()
	t.chunks = append(t.chunks, l)
	t.bytes += len(l.Data)
	t.seen++
	for t.bytes > t.max && len(t.chunks) > 1 {
		t.bytes -= len(t.chunks[0].Data)
		t.skipped += int64(len(t.chunks[0].Data))
		t.chunks[0] = nil
		t.chunks = t.chunks[1:]
	}
	t.mu.Unlock()
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// take returns the chunks held, the bytes dropped since the last take and
// how many chunks were ever added, and empties the tail.
func (t *tail) take() (chunks []*messages.Log, skipped int64, seen int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	chunks, skipped, seen = t.chunks, t.skipped, t.seen
	t.chunks, t.bytes, t.skipped = nil, 0, 0
	return chunks, skipped, seen
}

// logLine is one chunk of output as the page shows it. Attempt, when
// not 0, says that this chunk starts the output of another attempt (the
// task was redelivered and its output starts over).
type logLine struct {
	Stream  string
	Text    string
	Attempt int
}

// logView is a run of output lines, with what was skipped before them.
type logView struct {
	ID      string
	Lines   []logLine
	Skipped int64
	Live    bool
}

// logLines renders chunks; *attempt is the attempt of the chunk before
// them (0: none), and is left at the last one's.
func logLines(chunks []*messages.Log, attempt *int) []logLine {
	out := make([]logLine, 0, len(chunks))
	for _, c := range chunks {
		stream := "stdout"
		if c.Stream == messages.StreamStderr {
			stream = "stderr"
		}
		l := logLine{Stream: stream, Text: strings.ToValidUTF8(string(c.Data), "\uFFFD")}
		if *attempt != 0 && c.Attempt != *attempt {
			l.Attempt = c.Attempt
		}
		*attempt = c.Attempt
		out = append(out, l)
	}
	return out
}
