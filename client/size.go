package client

import (
	"context"
	"fmt"
	"time"

	"github.com/jetrun/jetrun/messages"
)

// headerReserve is room kept for a task message's headers (Nats-Msg-Id and
// the JetStream expectations) below the server's limits.
const headerReserve = 512

// maxTaskBytes is the largest encoded task that can be published: the
// server's max_payload, and JETRUN_TASKS's max message size once known,
// less headerReserve. It also names what sets the bound.
func (c *Client) maxTaskBytes(ctx context.Context) (int, string) {
	limit, what := int(c.nc.MaxPayload()), "the server's max_payload"
	c.tasksMu.Lock()
	defer c.tasksMu.Unlock()
	if c.tasksMaxMsg == 0 {
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.js.Stream(lctx, messages.TasksStream)
		cancel()
		if err == nil {
			c.tasksMaxMsg = int(st.CachedInfo().Config.MaxMsgSize)
			if c.tasksMaxMsg <= 0 {
				c.tasksMaxMsg = -1 // no limit of the stream's own
			}
		}
	}
	if c.tasksMaxMsg > 0 && c.tasksMaxMsg < limit {
		limit, what = c.tasksMaxMsg, messages.TasksStream+"'s max message size"
	}
	return limit - headerReserve, what
}

// checkSize refuses an encoded task that no server would take, with an
// error that says how large its input may be.
func (c *Client) checkSize(ctx context.Context, t *messages.Task, encoded int) error {
	limit, what := c.maxTaskBytes(ctx)
	if encoded <= limit {
		return nil
	}
	room := limit - (encoded - len(t.Input))
	return &messages.ValidationError{Field: "input", Reason: fmt.Sprintf(
		"the task is %d bytes encoded, more than the %d that fit in a message (%s, less room for headers); its input is %d bytes and at most %d fit: put larger data in a volume",
		encoded, limit, what, len(t.Input), max(room, 0))}
}
