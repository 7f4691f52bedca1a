package client_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// The documented 1 MiB input does not fit in a 1 MiB message with the rest
// of the task: the client refuses it before publishing and says how much
// does fit, and an input of that size runs.
func TestInputTooLargeForAMessageIsRefusedWithTheRoomLeft(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startWorker(t, e)
	big := task("big-in", "cat")
	big.Input = bytes.Repeat([]byte("x"), messages.MaxInputBytes)
	_, err := e.c.Submit(testCtx(t), big)
	var verr *messages.ValidationError
	if !errors.Is(err, client.ErrInvalidTask) || !errors.As(err, &verr) || verr.Field != "input" || !strings.Contains(err.Error(), "put larger data in a volume") {
		t.Fatalf("Submit of a 1 MiB input: %v; want ErrInvalidTask naming input and the remedy", err)
	}
	// "... and at most N fit": N is what can really be sent.
	_, after, _ := strings.Cut(err.Error(), "at most ")
	room, convErr := strconv.Atoi(strings.Fields(after)[0])
	if convErr != nil || room <= 0 || room >= messages.MaxInputBytes {
		t.Fatalf("room %q in %v", strings.Fields(after)[0], err)
	}
	fits := task("fit-in", "cat") // an id as long as big-in's: the same room
	fits.Input = bytes.Repeat([]byte("y"), room)
	res, err := e.c.Run(testCtx(t), fits)
	if err != nil || res.Status != messages.ResultSuccess || res.LogBytes != int64(room) {
		t.Fatalf("Run with the %d bytes said to fit: %+v, %v", room, res, err)
	}
}
