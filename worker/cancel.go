package worker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// active maps the ids of held tasks to the cancel function of their
// context, so a live Cancel message reaches the one running it.
type active struct {
	mu    sync.Mutex
	tasks map[string]context.CancelCauseFunc
}

func (a *active) add(id string, cancel context.CancelCauseFunc) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.tasks[id]; dup {
		return false
	}
	a.tasks[id] = cancel
	return true
}

func (a *active) remove(id string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.tasks, id)
}

// ids returns the held tasks' ids, sorted.
func (a *active) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Sorted(maps.Keys(a.tasks))
}

func (a *active) cancel(id string, cause error) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := a.tasks[id]
	if ok {
		c(cause)
	}
	return ok
}

// onCancel handles a live message on P.cancel.<id>.
func (w *Worker) onCancel(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	cause := newCancelRequest(m.Data)
	if w.active.cancel(id, cause) {
		w.log.Info("cancel requested", "task", id, "reason", cause.reason)
	}
}

// storedCancel looks up a cancel for id stored before the task was picked
// up; nil when there is none. A cancel applies only to a task published
// before it: one stored before published (the task message's time) was
// meant for an earlier task of that id, or for one that did not exist yet,
// and is ignored. Both times are the JetStream servers'.
func (w *Worker) storedCancel(ctx context.Context, id string, published time.Time) (error, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, err := w.streams().cancels.GetLastMsgForSubject(ctx, w.subj.Cancel(id))
	switch {
	case errors.Is(err, jetstream.ErrMsgNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("look up stored cancel: %w", err)
	}
	if !published.IsZero() && m.Time.Before(published) {
		w.log.Info("ignoring a cancel stored before the task was published", "task", id, "cancel_time", m.Time, "task_time", published)
		return nil, nil
	}
	return newCancelRequest(m.Data), nil
}

// newCancelRequest is the cause of a cancel published as data. A cancel is
// named by its subject, so one whose payload does not decode still
// cancels, without a reason; a reason over the protocol's MaxReasonLen is
// cut to it.
func newCancelRequest(data []byte) *cancelRequest {
	cause := &cancelRequest{}
	if c, err := messages.DecodeCancel(data); err == nil {
		cause.reason = messages.Clip(c.Reason, messages.MaxReasonLen)
	}
	return cause
}
