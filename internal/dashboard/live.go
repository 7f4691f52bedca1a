package dashboard

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jetrun/jetrun/messages"
)

const (
	// sseWriteTimeout bounds one write to a live stream: a client that
	// reads nothing for that long is dropped, never waited for.
	sseWriteTimeout = 10 * time.Second
	// sseKeepAlive is how often an idle stream sends a comment, so
	// proxies and the browser keep it open.
	sseKeepAlive = 15 * time.Second
	// logEvery is the most often a stream sends output: chunks arriving
	// faster are batched into one event.
	logEvery = 100 * time.Millisecond
)

// stream is one open Server-Sent Events response.
type stream struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// openStream takes a stream slot and starts the event-stream response;
// when every slot is taken it answers 503 (the browser retries) and
// returns false. The caller calls release.
func (s *Server) openStream(w http.ResponseWriter) (*stream, func(), bool) {
	select {
	case s.streams <- struct{}{}:
	default:
		w.Header().Set("Retry-After", "5")
		http.Error(w, "dashboard: too many live streams open", http.StatusServiceUnavailable)
		return nil, nil, false
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	st := &stream{w: w, rc: http.NewResponseController(w)}
	return st, func() { <-s.streams }, st.flush() == nil
}

func (st *stream) flush() error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	return st.rc.Flush()
}

// send writes one event; id, when not empty, is the event id the
// browser sends back as Last-Event-ID when it reconnects. data may hold any text: every line break (CR,
// LF or CRLF) starts a new data line, so nothing in it can end the event
// or forge another.
func (st *stream) send(event, id, data string) error {
	var b strings.Builder
	if id != "" {
		b.WriteString("id: ")
		b.WriteString(id)
		b.WriteByte('\n')
	}
	b.WriteString("event: ")
	b.WriteString(event)
	b.WriteByte('\n')
	for {
		i := strings.IndexAny(data, "\r\n")
		if i < 0 {
			break
		}
		b.WriteString("data: ")
		b.WriteString(data[:i])
		b.WriteByte('\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	b.WriteString("data: ")
	b.WriteString(data)
	b.WriteString("\n\n")
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := st.w.Write([]byte(b.String())); err != nil {
		return err
	}
	return st.flush()
}

func (st *stream) ping() error {
	_ = st.rc.SetWriteDeadline(time.Now().Add(sseWriteTimeout))
	if _, err := st.w.Write([]byte(": ping\n\n")); err != nil {
		return err
	}
	return st.flush()
}

// live streams event, re-rendered by render every PollInterval and sent
// when it changed, until the client goes away.
func (s *Server) live(w http.ResponseWriter, r *http.Request, event string, render func(context.Context) (string, error)) {
	st, release, ok := s.openStream(w)
	if release != nil {
		defer release()
	}
	if !ok {
		return
	}
	ctx := r.Context()
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	last, idle := "", time.Now()
	for {
		html, err := render(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.cfg.Logger.Warn("live render", "event", event, "err", err)
		} else if html != last {
			if st.send(event, "", html) != nil {
				return
			}
			last, idle = html, time.Now()
		} else if time.Since(idle) > sseKeepAlive {
			if st.ping() != nil {
				return
			}
			idle = time.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// taskLive streams one task: its live part ("task") when it changes, its
// output ("log") after the chunks the page already shows (?after=N, or
// the Last-Event-ID of a reconnect), and
// "done" once its result is stored, which closes the stream.
func (s *Server) taskLive(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	after, _ := strconv.Atoi(r.URL.Query().Get("after"))
	if v, err := strconv.Atoi(r.Header.Get("Last-Event-ID")); err == nil && v >= 0 {
		after = v // a reconnect: the page has the chunks sent before
	}
	csrf := s.csrfToken(w, r)
	st, release, ok := s.openStream(w)
	if release != nil {
		defer release()
	}
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()

	t := newTail(s.cfg.LogTail)
	logsDone := make(chan error, 1)
	var pageAttempt atomic.Int64 // the attempt of the last chunk the page has
	go func() {
		n := 0
		logsDone <- s.b.Logs(ctx, id, true, func(l *messages.Log) error {
			if n++; n > after {
				t.add(l)
			} else {
				pageAttempt.Store(int64(l.Attempt))
			}
			return nil
		})
	}()
	attempt, started := 0, false

	sendLog := func() error {
		chunks, skipped, seen := t.take()
		if len(chunks) == 0 && skipped == 0 {
			return nil
		}
		if !started { // every chunk the page had was replayed before the first taken
			attempt, started = int(pageAttempt.Load()), true
		}
		html, err := s.fragment("log-lines", logView{ID: id, Lines: logLines(chunks, &attempt), Skipped: skipped, Live: true})
		if err != nil {
			return err
		}
		// A browser that reconnects resumes after the chunks it has.
		return st.send("log", strconv.Itoa(after+seen), html)
	}
	lastTask := ""
	sendTask := func() error {
		html, err := s.fragment("task-live", s.task(ctx, id, csrf))
		if err != nil || html == lastTask || ctx.Err() != nil {
			return err
		}
		lastTask = html
		return st.send("task", "", html)
	}

	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	ready := t.ready
	var throttle <-chan time.Time
	idle := time.Now()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-ready:
			err = sendLog()
			ready, throttle = nil, time.After(logEvery)
			idle = time.Now()
		case <-throttle:
			ready, throttle = t.ready, nil
		case <-tick.C:
			err = sendTask()
			if err == nil && time.Since(idle) > sseKeepAlive {
				err = st.ping()
				idle = time.Now()
			}
		case lerr := <-logsDone:
			if err = sendLog(); err == nil && lerr != nil && !errors.Is(lerr, context.Canceled) {
				var html string
				if html, err = s.fragment("log-error", lerr.Error()); err == nil {
					err = st.send("log", "", html)
				}
			}
			if err == nil {
				err = sendTask()
			}
			if err == nil {
				_ = st.send("done", "", "")
			}
			return
		}
		if err != nil {
			s.cfg.Logger.Debug("task stream ended", "task", id, "err", err)
			return
		}
	}
}
