package objget_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/objget"
	"github.com/jetrun/jetrun/internal/objput"
)

const bucket = "B"

func start(t *testing.T) (*nats.Conn, jetstream.JetStream, jetstream.ObjectStore) {
	t.Helper()
	srv := natstest.Start(t)
	nc := natstest.Connect(t, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.CreateObjectStore(t.Context(), jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	return nc, js, obs
}

// TestMain doubles as the nats-server of TestReadLarge: run with
// serverEnv set, the test binary serves JetStream from that directory,
// prints its URL and runs until its stdin closes. The reader's heap is
// then measured without the server's (its block caches) in it.
func TestMain(m *testing.M) {
	if dir := os.Getenv(serverEnv); dir != "" {
		s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoSigs: true, NoLog: true})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			fmt.Fprintln(os.Stderr, "not ready for connections")
			os.Exit(1)
		}
		fmt.Println(s.ClientURL())
		_, _ = io.Copy(io.Discard, os.Stdin)
		s.Shutdown()
		s.WaitForShutdown()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

const serverEnv = "OBJGET_TEST_SERVER_DIR"

// childServer runs a nats-server in a child process and connects to it.
func childServer(t *testing.T) *nats.Conn {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), serverEnv+"="+t.TempDir())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	url, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("child server: %v", err)
	}
	nc, err := nats.Connect(strings.TrimSpace(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func heapInUse() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// heapHigh samples the heap in use every 2ms until stop is called, which
// returns the highest sample.
func heapHigh() (stop func() uint64) {
	var high atomic.Uint64
	high.Store(heapInUse())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				if v := heapInUse(); v > high.Load() {
					high.Store(v)
				}
			}
		}
	})
	return func() uint64 { close(done); wg.Wait(); return high.Load() }
}

// readGrowth reads r to the end, comparing it with want 64 KiB at a time,
// and returns how much the heap grew over its level before, at most.
func readGrowth(t *testing.T, r io.Reader, want io.Reader, size int64) int64 {
	t.Helper()
	got, wbuf := make([]byte, 64<<10), make([]byte, 64<<10)
	runtime.GC()
	base := heapInUse()
	stop := heapHigh()
	var n int64
	for {
		k, err := io.ReadFull(r, got)
		if k > 0 {
			if _, werr := io.ReadFull(want, wbuf[:k]); werr != nil {
				t.Fatal(werr)
			}
			if !bytes.Equal(got[:k], wbuf[:k]) {
				t.Fatalf("bytes differ in [%d, %d)", n, n+int64(k))
			}
			n += int64(k)
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
	}
	high := stop()
	if n != size {
		t.Fatalf("read %d bytes, want %d", n, size)
	}
	return int64(high) - int64(base)
}

// TestReadLarge: a 160 MiB object reads back byte for byte, and the heap
// grows by far less than the object while it is read (the server runs in
// another process). jetstream's own Get is measured alongside, for the log.
func TestReadLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 160 MiB")
	}
	nc := childServer(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: bucket, Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	const size = 160 << 20
	seed := [32]byte{7}
	if _, err := objput.Put(ctx, js, obs, bucket, jetstream.ObjectMeta{Name: "big/one"}, io.LimitReader(rand.NewChaCha8(seed), size)); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	o, err := objget.Open(ctx, nc, bucket, "big/one")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.Info().Size != size {
		t.Fatalf("info size %d", o.Info().Size)
	}
	grew := readGrowth(t, o, io.LimitReader(rand.NewChaCha8(seed), size), size)
	took := time.Since(start)
	// A read at EOF again is still EOF (the digest matched).
	if _, err := o.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read after EOF: %v", err)
	}
	t.Logf("objget: heap high water +%.1f MiB, %.0f MiB/s", float64(grew)/(1<<20), size/(1<<20)/took.Seconds())
	if grew > 32<<20 {
		t.Fatalf("the heap grew by %d MiB reading a %d MiB object", grew>>20, size>>20)
	}

	start = time.Now()
	res, err := obs.Get(ctx, "big/one")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	grew = readGrowth(t, res, io.LimitReader(rand.NewChaCha8(seed), size), size)
	t.Logf("jetstream Get: heap high water +%.1f MiB, %.0f MiB/s", float64(grew)/(1<<20), size/(1<<20)/time.Since(start).Seconds())
}

func readAll(t *testing.T, nc *nats.Conn, name string) ([]byte, error) {
	t.Helper()
	o, err := objget.Open(t.Context(), nc, bucket, name)
	if err != nil {
		return nil, err
	}
	defer o.Close()
	return io.ReadAll(o)
}

// TestSmallAndEmpty: objects written by jetstream's own Put read back the
// same, an empty one as empty, and Info matches GetInfo.
func TestSmallAndEmpty(t *testing.T) {
	nc, _, obs := start(t)
	ctx := t.Context()
	cases := map[string][]byte{
		"empty": {},
		"tiny":  []byte("hello"),
		"odd":   bytes.Repeat([]byte("0123456789"), 300_001), // 23 chunks, the last partial
	}
	for name, data := range cases {
		if _, err := obs.PutBytes(ctx, name, data); err != nil {
			t.Fatal(err)
		}
		got, err := readAll(t, nc, name)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read %d bytes of %d: %v", name, len(got), len(data), err)
		}
		info, err := objget.Info(ctx, nc, bucket, name)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := obs.GetInfo(ctx, name)
		if info.NUID != want.NUID || info.Size != want.Size || info.Digest != want.Digest || !info.ModTime.Equal(want.ModTime) {
			t.Fatalf("%s: info %+v, GetInfo %+v", name, info, want)
		}
	}
}

// TestNotFound: a missing object and a deleted one are
// jetstream.ErrObjectNotFound.
func TestNotFound(t *testing.T) {
	nc, _, obs := start(t)
	if _, err := readAll(t, nc, "nope"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("missing: %v", err)
	}
	if _, err := obs.PutString(t.Context(), "gone", "x"); err != nil {
		t.Fatal(err)
	}
	if err := obs.Delete(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := readAll(t, nc, "gone"); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Fatalf("deleted: %v", err)
	}
}

// putMeta replaces the meta of object name with info.
func putMeta(t *testing.T, js jetstream.JetStream, info *jetstream.ObjectInfo) {
	t.Helper()
	data, err := json.Marshal(info)
	if err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(objget.MetaSubject(bucket, info.Name))
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	m.Data = data
	if _, err := js.PublishMsg(t.Context(), m); err != nil {
		t.Fatal(err)
	}
}

// TestCorrupted: a chunk that differs from what the digest was taken of,
// a wrong digest, a missing chunk and a size that does not match are all
// jetstream.ErrDigestMismatch, at the end of the read at the latest.
func TestCorrupted(t *testing.T) {
	nc, js, obs := start(t)
	ctx := t.Context()
	data := bytes.Repeat([]byte("abcdefgh"), 100_000) // 7 chunks
	put := func(name string) *jetstream.ObjectInfo {
		info, err := obs.PutBytes(ctx, name, data)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	mismatch := func(what, name string) {
		t.Helper()
		got, err := readAll(t, nc, name)
		if !errors.Is(err, jetstream.ErrDigestMismatch) {
			t.Fatalf("%s: read %d bytes, error %v; want a digest mismatch", what, len(got), err)
		}
		t.Logf("%s: %v", what, err)
	}

	// A chunk published after the object's own.
	info := put("extra")
	if _, err := js.Publish(ctx, objget.ChunkSubject(bucket, info.NUID), []byte("tail")); err != nil {
		t.Fatal(err)
	}
	mismatch("an extra chunk", "extra")

	// The meta's digest is wrong.
	info = put("digest")
	sum := sha256.Sum256([]byte("something else"))
	info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(sum[:])
	putMeta(t, js, info)
	mismatch("a wrong digest", "digest")

	// Same size, other content: one chunk's bytes flipped. The object is
	// rebuilt from its chunks with one changed, under its meta.
	info = put("flipped")
	st, err := js.Stream(ctx, objget.Stream(bucket))
	if err != nil {
		t.Fatal(err)
	}
	subj := objget.ChunkSubject(bucket, info.NUID)
	if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 128 << 10 {
		chunk := bytes.Clone(data[i:min(i+128<<10, len(data))])
		if i == 256<<10 {
			chunk[17] ^= 1
		}
		if _, err := js.Publish(ctx, subj, chunk); err != nil {
			t.Fatal(err)
		}
	}
	putMeta(t, js, info) // the meta after its chunks, as a put writes it
	mismatch("a flipped byte", "flipped")

	// The meta lists more bytes and chunks than were stored.
	info = put("short")
	info.Size += 1 << 20
	info.Chunks += 8
	putMeta(t, js, info)
	mismatch("missing chunks", "short")

	// The meta lists fewer bytes than the chunks hold.
	info = put("long")
	info.Size--
	putMeta(t, js, info)
	mismatch("a wrong size", "long")
}

// TestCloseEarly: closing an object half read stops its reads and leaves
// no goroutine behind; a read after Close fails.
func TestCloseEarly(t *testing.T) {
	nc, _, obs := start(t)
	data := bytes.Repeat([]byte("z"), 3<<20)
	if _, err := obs.PutBytes(t.Context(), "o", data); err != nil {
		t.Fatal(err)
	}
	o, err := objget.Open(t.Context(), nc, bucket, "o")
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := io.ReadFull(o, buf); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Read(buf); err == nil {
		t.Fatal("read after Close succeeded")
	}
}

// TestCancel: a read under a cancelled context fails with its cause.
func TestCancel(t *testing.T) {
	nc, _, obs := start(t)
	if _, err := obs.PutBytes(t.Context(), "o", bytes.Repeat([]byte("y"), 3<<20)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	o, err := objget.Open(ctx, nc, bucket, "o")
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	cancel()
	_, err = io.Copy(io.Discard, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}
