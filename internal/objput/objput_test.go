package objput_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natsconn"
	"github.com/jetrun/jetrun/internal/objput"
)

func start(t *testing.T) (jetstream.JetStream, jetstream.ObjectStore) {
	t.Helper()
	srv, err := natsconn.Embedded{Name: "objput-test", Listen: "127.0.0.1:0", StoreDir: t.TempDir()}.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: "B", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return js, obs
}

// TestPutLarge: an object larger than a stream's ingest queue (128 MiB),
// on which jetstream's own Put fails once the server lags, is stored whole and reads back the
// same through the object store's Get; replacing it purges its chunks.
func TestPutLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 160 MiB")
	}
	js, obs := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	const size = 160 << 20
	src := rand.NewChaCha8([32]byte{1})
	h := sha256.New()
	info, err := objput.Put(ctx, js, obs, "B", jetstream.ObjectMeta{Name: "big/one"}, io.TeeReader(io.LimitReader(src, size), h))
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != size || info.Chunks != size/objput.ChunkSize {
		t.Fatalf("info: size %d chunks %d", info.Size, info.Chunks)
	}
	want := h.Sum(nil)
	obj, err := obs.Get(ctx, "big/one")
	if err != nil {
		t.Fatal(err)
	}
	g := sha256.New()
	n, err := io.Copy(g, obj) // Get checks the digest at EOF
	obj.Close()
	if err != nil || n != size || !bytes.Equal(g.Sum(nil), want) {
		t.Fatalf("read back %d bytes, %v; digest equal %v", n, err, bytes.Equal(g.Sum(nil), want))
	}
	if _, err := objput.Put(ctx, js, obs, "B", jetstream.ObjectMeta{Name: "big/one"}, bytes.NewReader([]byte("small"))); err != nil {
		t.Fatal(err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 1<<20 {
		t.Errorf("bucket holds %d bytes after the object was replaced: its old chunks were not purged", st.Size())
	}
}

// TestPutSmall: an empty and a one-chunk-and-a-bit object, read back by
// Get and listed with their sizes.
func TestPutSmall(t *testing.T) {
	js, obs := start(t)
	ctx := t.Context()
	for name, data := range map[string][]byte{"empty": nil, "odd": bytes.Repeat([]byte("x"), objput.ChunkSize+7)} {
		info, err := objput.Put(ctx, js, obs, "B", jetstream.ObjectMeta{Name: name}, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != uint64(len(data)) {
			t.Fatalf("%s: size %d", name, info.Size)
		}
		got, err := obs.GetBytes(ctx, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back %d bytes, %v", name, len(got), err)
		}
		gi, err := obs.GetInfo(ctx, name)
		if err != nil || gi.Size != uint64(len(data)) || gi.Digest != info.Digest {
			t.Fatalf("%s: info %+v, %v", name, gi, err)
		}
	}
}
