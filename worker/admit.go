package worker

import (
	"fmt"
	"maps"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/imageref"
	"github.com/jetrun/jetrun/messages"
)

// admitted is a delivered task the worker accepted: decoded, valid under
// the protocol, allowed by the policy, every limit resolved. The rest of
// the worker trusts it and decides nothing about it again.
type admitted struct {
	task    *messages.Task
	image   imageref.Ref // task.Image, parsed
	reply   string       // the reply prefix R
	stored  bool         // R is in the events stream
	timeout time.Duration
	memory  uint64            // bytes
	cpus    uint64            // milli-CPUs
	mounts  []driver.Mount    // task.Volumes, host paths resolved to their real paths
	labels  map[string]string // the task's, and LabelAttempt once the run is known
}

// admit turns a delivered message into an admitted task, or into the
// outcome that refuses it: an error result, when the message names a valid
// id, then Term.
func (j *job) admit() (*admitted, *outcome) {
	w := j.w
	data := j.msg.Data()
	task, err := messages.DecodeTask(data)
	if err != nil {
		id, reply := messages.PeekTask(data)
		return nil, j.refuse(id, reply, KindUndecodable, fmt.Sprintf("undecodable task: %v", err))
	}
	checked, err := w.subj.Check(task)
	if err != nil {
		return nil, j.refuse(task.ID, task.Reply, KindInvalid, err.Error())
	}
	a := &admitted{task: task, image: checked.Image, reply: checked.Reply, stored: checked.Stored}
	if err := w.cfg.Policy.resolve(a); err != nil {
		return nil, j.refuse(task.ID, task.Reply, KindPolicy, err.Error())
	}
	a.labels = make(map[string]string, len(task.Labels)+1)
	maps.Copy(a.labels, task.Labels)
	return a, nil
}

// resolve applies p to a's task: it refuses what p does not allow, with an
// error wrapping ErrRefused that says what to change, and sets every limit.
func (p Policy) resolve(a *admitted) error {
	t := a.task
	refuse := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrRefused}, args...)...)
	}
	if !p.Allow.ImageAllowed(a.image) {
		if a.image.IsID() {
			return refuse("image %q is an image id, not a name: this worker runs ids only when an allowed-images pattern starting %q matches it (allowed: %q)", t.Image, imageref.IDPrefix, p.Allow.Images)
		}
		return refuse("image %q (%s) is not in the allowed images %q", t.Image, a.image, p.Allow.Images)
	}
	for _, v := range t.Volumes {
		if len(p.Allow.VolumeRoots) == 0 {
			return refuse("volume %q: this worker allows no host volumes", v[0])
		}
		real, err := p.Allow.ResolveVolume(v[0])
		if err != nil {
			return refuse("%w", err)
		}
		a.mounts = append(a.mounts, driver.Mount{Source: real, Target: v[1], ReadOnly: !messages.VolumeWritable(v)})
	}
	// Validate refused negative values.
	a.timeout = t.Timeout()
	switch {
	case a.timeout == 0:
		a.timeout = p.DefaultTimeout
	case a.timeout > p.MaxTimeout:
		return refuse("timeout %v is above this worker's maximum %v", a.timeout, p.MaxTimeout)
	}
	a.memory = uint64(t.Memory)
	switch {
	case a.memory == 0:
		a.memory = uint64(p.DefaultMemory)
	case a.memory > uint64(p.MaxMemory):
		return refuse("memory %s is above this worker's maximum %s", driver.Memory(a.memory), p.MaxMemory)
	}
	a.cpus = uint64(t.CPUs)
	if a.cpus == 0 {
		a.cpus = p.DefaultCPUs
	}
	return nil
}

// refuse is the outcome of a task that must never run: an error result
// when id is valid, addressed to reply when that is a valid reply prefix
// for id and to the default P.events.<id> otherwise; then Term.
func (j *job) refuse(id, reply string, kind Kind, reason string) *outcome {
	j.log.Warn("task refused", "task", id, "reason", kind, "detail", reason)
	o := terminate(nil, kind, reason)
	if !messages.ValidID(id) {
		return &o
	}
	if j.w.subj.ValidReply(id, reply) != nil {
		reply = ""
	}
	r := j.w.subj.Reply(&messages.Task{ID: id, Reply: reply})
	j.bind(id, r, r == j.w.subj.Events(id))
	o.result = j.errorResult(reason)
	return &o
}
