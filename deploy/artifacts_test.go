package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/objget"
	"github.com/jetrun/jetrun/internal/objput"
	"github.com/jetrun/jetrun/messages"
)

// With the shipped nats.conf: the submitter uploads an input and the
// worker reads it; the worker stores an output and the submitter
// downloads it, through jetstream's object store API and through jetrun's
// own objput and objget; neither may purge or delete the bucket's stream.
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
	// How jetrun itself moves artifacts: objput's bounded put, objget's
	// batched direct gets (the JSON-body DIRECT.GET.<stream>), each role
	// reading what the other wrote, a missing object reported as such.
	read := func(c *conn, name string) []byte {
		t.Helper()
		o, err := objget.Open(ctx, c.nc, messages.ArtifactsBucket, name)
		if err != nil {
			t.Fatalf("%s: open %s: %v", c.user, name, err)
		}
		defer o.Close()
		got, err := io.ReadAll(o)
		if err != nil {
			t.Fatalf("%s: read %s: %v", c.user, name, err)
		}
		return got
	}
	big := bytes.Repeat([]byte("artifact"), 600_000) // 37 chunks, 3 batches
	if _, err := objput.Put(ctx, s.js, so, messages.ArtifactsBucket, jetstream.ObjectMeta{Name: "t2/in/0-data"}, bytes.NewReader(big)); err != nil {
		t.Fatalf("submitter: objput: %v", err)
	}
	if got := read(w, "t2/in/0-data"); !bytes.Equal(got, big) {
		t.Fatalf("worker: objget read %d bytes of %d", len(got), len(big))
	}
	if _, err := objput.Put(ctx, w.js, wo, messages.ArtifactsBucket, jetstream.ObjectMeta{Name: "t2/out/0"}, bytes.NewReader(big)); err != nil {
		t.Fatalf("worker: objput: %v", err)
	}
	if got := read(s, "t2/out/0"); !bytes.Equal(got, big) {
		t.Fatalf("submitter: objget read %d bytes of %d", len(got), len(big))
	}
	for _, c := range []*conn{s, w} {
		if _, err := objget.Open(ctx, c.nc, messages.ArtifactsBucket, "t2/out/none"); !errors.Is(err, jetstream.ErrObjectNotFound) {
			t.Fatalf("%s: open a missing object: %v", c.user, err)
		}
		select {
		case err := <-c.errs:
			t.Fatalf("%s: %v", c.user, err)
		default:
		}
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
