// Package objget reads objects of a JetStream object store with bounded
// memory, in the store's own format (objects written by
// jetstream.ObjectStore.Put or internal/objput).
//
// jetstream.ObjectStore.Get reads an object through an ordered push
// consumer whose callback blocks writing into a net.Pipe until the reader
// takes the bytes: the server keeps delivering meanwhile, and the
// subscription's pending buffer (64 MiB by default) fills with chunks. A
// reader of a large object then holds tens of MiB whatever it does with
// them. Open here fetches the chunks with batched direct gets
// ($JS.API.DIRECT.GET.<stream> with a JSON body), BatchBytes at a time and
// one batch ahead of the reader, so it holds at most about two batches.
//
// The object's stream must allow direct gets (jetstream creates object
// stores with allow_direct on).
package objget

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/jsdirect"
)

const (
	// BatchBytes bounds the chunk bytes one direct get returns: 8 of
	// objput's 512 KiB chunks, or BatchChunks of the store's default 128 KiB (a chunk
	// larger than this comes alone). With one batch read ahead a reader
	// holds about twice that. 1 MiB batches read about a third slower on
	// loopback (a request's round trip per MiB).
	BatchBytes = 4 << 20
	// BatchChunks is the most chunks one direct get asks for.
	BatchChunks = 16
	// RequestTimeout bounds one direct get.
	RequestTimeout = 10 * time.Second
)

// gapRetries is how often a batch that returns no chunk while the meta
// lists more is asked again (a replica answering before it caught up),
// first after gapDelay, doubling, before the object counts as truncated.
const (
	gapRetries = 4
	gapDelay   = 50 * time.Millisecond
)

// MetaSubject is the subject of the meta message of object name in bucket.
func MetaSubject(bucket, name string) string {
	return fmt.Sprintf("$O.%s.M.%s", bucket, base64.URLEncoding.EncodeToString([]byte(name)))
}

// ChunkSubject is the subject of the chunks of the object with nuid in
// bucket.
func ChunkSubject(bucket, nuid string) string { return fmt.Sprintf("$O.%s.C.%s", bucket, nuid) }

// Stream is the stream behind bucket.
func Stream(bucket string) string { return "OBJ_" + bucket }

// Info reads the info of object name in bucket: one direct get of its
// meta. A missing or deleted object is jetstream.ErrObjectNotFound.
func Info(ctx context.Context, nc *nats.Conn, bucket, name string) (*jetstream.ObjectInfo, error) {
	if name == "" {
		return nil, jetstream.ErrNameRequired
	}
	rctx, cancel := context.WithTimeout(ctx, RequestTimeout)
	defer cancel()
	m, err := jsdirect.New(nc).Last(rctx, Stream(bucket), MetaSubject(bucket, name))
	if err != nil {
		return nil, fmt.Errorf("object %q: read its info: %w", name, err)
	}
	if m == nil {
		return nil, fmt.Errorf("object %q: %w", name, jetstream.ErrObjectNotFound)
	}
	var info jetstream.ObjectInfo
	if err := json.Unmarshal(m.Data, &info); err != nil {
		return nil, fmt.Errorf("object %q: %w: %v", name, jetstream.ErrBadObjectMeta, err)
	}
	if info.Deleted {
		return nil, fmt.Errorf("object %q: %w (deleted)", name, jetstream.ErrObjectNotFound)
	}
	info.ModTime = m.Time
	return &info, nil
}

// Object is an object open for reading. Read returns its bytes; at EOF
// the size and SHA-256 digest its info lists are checked, a mismatch
// being an error wrapping jetstream.ErrDigestMismatch. It is not safe for
// concurrent use. Close it.
type Object struct {
	info   *jetstream.ObjectInfo
	want   []byte // the digest the info lists
	bucket string
	subj   string
	dr     *jsdirect.Reader
	ctx    context.Context
	cancel context.CancelFunc

	h      hash.Hash
	size   uint64 // bytes received
	chunks uint32 // chunks received
	cur    []jsdirect.Msg
	off    int // into cur[0].Data
	next   chan batch
	wg     sync.WaitGroup
	done   bool // every chunk received
	err    error
}

type batch struct {
	msgs []jsdirect.Msg
	end  jsdirect.End
	err  error
}

// Open opens object name of bucket for reading, through nc. ctx bounds
// the reading as well as the opening. A missing or deleted object is
// jetstream.ErrObjectNotFound; a link is refused (jetstream.ErrBadObjectMeta).
func Open(ctx context.Context, nc *nats.Conn, bucket, name string) (*Object, error) {
	info, err := Info(ctx, nc, bucket, name)
	if err != nil {
		return nil, err
	}
	if info.Opts != nil && info.Opts.Link != nil {
		return nil, fmt.Errorf("object %q is a link, which is not followed: %w", name, jetstream.ErrBadObjectMeta)
	}
	if info.NUID == "" {
		return nil, fmt.Errorf("object %q: %w: no NUID", name, jetstream.ErrBadObjectMeta)
	}
	want, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return nil, fmt.Errorf("object %q: %w: digest %q: %v", name, jetstream.ErrBadObjectMeta, info.Digest, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	o := &Object{
		info: info, want: want, bucket: bucket, subj: ChunkSubject(bucket, info.NUID),
		dr: jsdirect.New(nc), ctx: ctx, cancel: cancel, h: sha256.New(),
		next: make(chan batch, 1),
	}
	if info.Chunks == 0 && info.Size == 0 {
		o.done = true
	} else {
		o.fetch(1)
	}
	return o, nil
}

// Info is the object's info.
func (o *Object) Info() *jetstream.ObjectInfo { return o.info }

// fetch asks for the batch of chunks from stream sequence seq in the
// background; its result goes to o.next.
func (o *Object) fetch(seq uint64) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		o.next <- o.get(seq)
	}()
}

func (o *Object) get(seq uint64) batch {
	delay := gapDelay
	for try := 0; ; try++ {
		ctx, cancel := context.WithTimeout(o.ctx, RequestTimeout)
		msgs, end, err := o.dr.Get(ctx, Stream(o.bucket), jsdirect.Request{Seq: seq, NextFor: o.subj, Batch: BatchChunks, MaxBytes: BatchBytes})
		cancel()
		if err != nil || len(msgs) > 0 || try == gapRetries {
			return batch{msgs: msgs, end: end, err: err}
		}
		select {
		case <-time.After(delay):
		case <-o.ctx.Done():
			return batch{err: context.Cause(o.ctx)}
		}
		delay *= 2
	}
}

func (o *Object) mismatch(format string, args ...any) error {
	return fmt.Errorf("object %q: %w: %s", o.info.Name, jetstream.ErrDigestMismatch, fmt.Sprintf(format, args...))
}

// receive waits for the batch in flight, takes its chunks and asks for the
// next one unless they were the last.
func (o *Object) receive() error {
	var b batch
	select {
	case b = <-o.next:
	case <-o.ctx.Done():
		return context.Cause(o.ctx)
	}
	if b.err != nil {
		return fmt.Errorf("object %q: read its chunks: %w", o.info.Name, b.err)
	}
	if len(b.msgs) == 0 {
		return o.mismatch("%d of its %d chunks are missing", o.info.Chunks-o.chunks, o.info.Chunks)
	}
	for _, m := range b.msgs {
		o.chunks++
		o.size += uint64(len(m.Data))
		if o.chunks > o.info.Chunks || o.size > o.info.Size {
			return o.mismatch("more than the %d chunks of %d bytes its info lists", o.info.Chunks, o.info.Size)
		}
	}
	last := b.msgs[len(b.msgs)-1]
	switch {
	case o.chunks == o.info.Chunks:
		if last.Pending > 0 {
			return o.mismatch("more than the %d chunks its info lists", o.info.Chunks)
		}
		o.done = true
	case last.Pending == 0:
		return o.mismatch("%d of its %d chunks are missing", o.info.Chunks-o.chunks, o.info.Chunks)
	default:
		o.fetch(last.Seq + 1)
	}
	o.cur, o.off = b.msgs, 0
	return nil
}

// Read reads the object's bytes.
func (o *Object) Read(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	for len(o.cur) == 0 {
		if o.done {
			o.err = o.verify()
			return 0, o.err
		}
		if err := o.receive(); err != nil {
			o.err = err
			return 0, err
		}
	}
	n := 0
	for n < len(p) && len(o.cur) > 0 {
		data := o.cur[0].Data[o.off:]
		c := copy(p[n:], data)
		o.h.Write(data[:c])
		n += c
		o.off += c
		if o.off == len(o.cur[0].Data) {
			o.cur[0].Data = nil // let it go
			o.cur, o.off = o.cur[1:], 0
		}
	}
	return n, nil
}

// verify checks what was read against the info, at EOF.
func (o *Object) verify() error {
	if o.size != o.info.Size {
		return o.mismatch("%d bytes, its info lists %d", o.size, o.info.Size)
	}
	if got := o.h.Sum(nil); !bytes.Equal(got, o.want) {
		return o.mismatch("its content does not match its SHA-256 digest")
	}
	return io.EOF
}

// Close stops reading and releases the object's batches.
func (o *Object) Close() error {
	o.cancel()
	o.wg.Wait()
	o.cur = nil
	if o.err == nil {
		o.err = errors.New("objget: read of a closed object")
	}
	return nil
}
