package client

import (
	"testing"

	"github.com/jetrun/jetrun/messages"
)

func TestGapsCountMissingChunksPerAttempt(t *testing.T) {
	var g gaps
	for _, l := range []*messages.Log{
		{Seq: 0, Attempt: 1}, {Seq: 1, Attempt: 1},
		{Seq: 0, Attempt: 2}, // a new attempt starts over: no gap
	} {
		g.see(l)
	}
	if g.lost != 0 {
		t.Errorf("lost = %d, want 0", g.lost)
	}
	g.see(&messages.Log{Seq: 5, Attempt: 2})
	if g.lost != 4 {
		t.Errorf("lost = %d after a gap of 4, want 4", g.lost)
	}
}
