package deploy_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/messages"
)

// With the shipped nats.conf: the submitter uploads an input and the
// worker reads it; the worker stores an output and the submitter
// downloads it; neither may purge or delete the bucket's stream.
func TestArtifactsUnderTheShippedConf(t *testing.T) {
	f := startFromConf(t)
	f.provision(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	bucket := func(c *conn) jetstream.ObjectStore {
		obs, err := c.js.ObjectStore(ctx, messages.ArtifactsBucket)
		if err != nil {
			t.Fatalf("%s: bucket: %v", c.user, err)
		}
		return obs
	}
	so, wo := bucket(s), bucket(w)
	in := bytes.Repeat([]byte("input "), 100_000) // several chunks
	if _, err := so.PutBytes(ctx, "t1/in/data", in); err != nil {
		t.Fatalf("submitter: upload: %v", err)
	}
	if got, err := wo.GetBytes(ctx, "t1/in/data"); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("worker: read the input: %d bytes, %v", len(got), err)
	}
	if _, err := wo.PutBytes(ctx, "t1/out/0", []byte("report")); err != nil {
		t.Fatalf("worker: store an output: %v", err)
	}
	if got, err := so.GetBytes(ctx, "t1/out/0"); err != nil || string(got) != "report" {
		t.Fatalf("submitter: download the output: %q, %v", got, err)
	}
	for _, c := range []*conn{s, w} {
		st, err := c.js.Stream(ctx, messages.ArtifactsStream)
		if err != nil {
			t.Fatalf("%s: stream info: %v", c.user, err)
		}
		c.refuse(t, "$JS.API.STREAM.PURGE."+messages.ArtifactsStream, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return st.Purge(ctx)
		})
		c.refuse(t, "$JS.API.STREAM.DELETE."+messages.ArtifactsStream, func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return c.js.DeleteStream(ctx, messages.ArtifactsStream)
		})
	}
}
