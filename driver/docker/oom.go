package docker

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
)

// oomEvents follows the daemon's "oom" events for this worker's containers
// on one stream shared by every running task (a stream per container would
// cost the daemon a subscription each). It starts with the first watch and
// stops with the Driver.
type oomEvents struct {
	d *Driver

	mu      sync.Mutex
	waiting map[string]chan struct{} // container id: closed on its oom event
	cancel  context.CancelFunc       // nil until the stream started
	stopped bool
	done    chan struct{}
}

// watch returns a channel closed when container id's oom event arrives.
// Call it before the container starts, and forget when its run is over.
func (o *oomEvents) watch(id string) <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	ch := make(chan struct{})
	if o.stopped {
		return ch
	}
	if o.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		o.cancel, o.done = cancel, make(chan struct{})
		// Replay from a little before now, so an event that comes before
		// the subscription is answered is not missed.
		go o.follow(ctx, time.Now().Add(-time.Second))
	}
	if o.waiting == nil {
		o.waiting = make(map[string]chan struct{})
	}
	o.waiting[id] = ch
	return ch
}

// forget stops watching container id.
func (o *oomEvents) forget(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.waiting, id)
}

// stop ends the stream and waits for it; watch afterwards never fires.
func (o *oomEvents) stop() {
	o.mu.Lock()
	o.stopped = true
	cancel, done := o.cancel, o.done
	o.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

func (o *oomEvents) fire(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch, ok := o.waiting[id]; ok {
		close(ch)
		delete(o.waiting, id)
	}
}

// follow reads the event stream until ctx ends, subscribing again (and
// replaying from the last event seen) when the daemon drops it.
func (o *oomEvents) follow(ctx context.Context, since time.Time) {
	defer close(o.done)
	args := filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", string(events.ActionOOM)),
		filters.Arg("label", LabelWorker+"="+o.d.opts.WorkerID),
	)
	for {
		msgs, errs := o.d.cli.Events(ctx, events.ListOptions{
			Since:   fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond()),
			Filters: args,
		})
	read:
		for {
			select {
			case m := <-msgs:
				if m.TimeNano > 0 {
					since = time.Unix(0, m.TimeNano)
				}
				o.fire(m.Actor.ID)
			case err := <-errs:
				if ctx.Err() != nil {
					return
				}
				o.d.logger.Warn("docker event stream ended; following it again", "err", err)
				break read
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}
