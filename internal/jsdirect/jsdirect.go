// Package jsdirect reads JetStream streams with batched direct gets
// ($JS.API.DIRECT.GET.<stream>), which the jetstream package does not
// offer: one request returns up to a batch of messages matching a subject
// filter from a sequence or a time, each with the number of matches left
// after it. The inventory lists and counts with it: a page is one or a few
// requests, a count is one, whatever the stream holds.
//
// The stream must allow direct gets (allow_direct). Requests go to the
// stream's direct-get subject and replies to an inbox of the connection,
// so they honour its custom inbox prefix.
package jsdirect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoStream means the stream does not exist (or does not allow direct
// gets): nobody answered the request.
var ErrNoStream = errors.New("stream does not answer direct gets")

// Headers the server adds to each message of a direct get.
const (
	hdrSubject    = "Nats-Subject"
	hdrSequence   = "Nats-Sequence"
	hdrTimeStamp  = "Nats-Time-Stamp"
	hdrNumPending = "Nats-Num-Pending"
	hdrLastSeq    = "Nats-Last-Sequence"
)

// DefaultMaxBytes bounds the bytes one request returns, so that a page of
// large task messages arrives in several requests instead of one burst.
const DefaultMaxBytes = 4 << 20

// Msg is one message a direct get returned.
type Msg struct {
	Subject string
	Seq     uint64
	Time    time.Time
	Header  nats.Header
	Data    []byte
	// Pending is how many messages matching the request's filter follow
	// this one in the stream.
	Pending uint64
}

// Request is a direct get ($JS.API.DIRECT.GET request body).
type Request struct {
	// Seq is the first sequence to consider; StartTime, when set, the
	// first time instead.
	Seq       uint64     `json:"seq,omitempty"`
	StartTime *time.Time `json:"start_time,omitempty"`
	// NextFor is the subject filter (wildcards allowed); LastFor asks for
	// the last message of a subject (wildcards allowed) instead.
	NextFor string `json:"next_by_subj,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	// MultiLast asks for the last message of each of these subjects
	// (wildcards allowed), at most 1024 in all.
	MultiLast []string `json:"multi_last,omitempty"`
	// Batch asks for up to that many messages; MaxBytes bounds their size
	// (0: DefaultMaxBytes).
	Batch    int `json:"batch,omitempty"`
	MaxBytes int `json:"max_bytes,omitempty"`
}

// Reader sends direct gets on a connection.
type Reader struct {
	nc *nats.Conn
	// Timeout bounds one request when ctx has no deadline.
	Timeout time.Duration
}

// New returns a Reader on nc.
func New(nc *nats.Conn) *Reader { return &Reader{nc: nc, Timeout: 5 * time.Second} }

// End is what the end of a batch says.
type End struct {
	// Pending is how many messages matching the filter remain after the
	// last one returned; LastSeq is that message's sequence (0: none).
	Pending, LastSeq uint64
}

// Get sends req to stream and returns the messages it answered with, in
// stream order. A request that matches nothing returns no messages and no
// error.
func (r *Reader) Get(ctx context.Context, stream string, req Request) ([]Msg, End, error) {
	if req.LastFor == "" && req.Batch == 0 && len(req.MultiLast) == 0 {
		req.Batch = 1
	}
	if req.Batch > 0 && req.MaxBytes == 0 {
		req.MaxBytes = DefaultMaxBytes
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, End{}, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	inbox := r.nc.NewInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, End{}, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, End{}, err
	}
	if err := r.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, End{}, err
	}
	var out []Msg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, End{}, fmt.Errorf("%s: %w", stream, ErrNoStream)
		}
		if err != nil {
			return nil, End{}, fmt.Errorf("direct get on %s: %w", stream, err)
		}
		status := m.Header.Get("Status")
		switch status {
		case "":
		case "503":
			return nil, End{}, fmt.Errorf("%s: %w", stream, ErrNoStream)
		case "404":
			return out, End{}, nil
		case "204": // end of batch
			end := End{}
			end.Pending, _ = strconv.ParseUint(m.Header.Get(hdrNumPending), 10, 64)
			end.LastSeq, _ = strconv.ParseUint(m.Header.Get(hdrLastSeq), 10, 64)
			return out, end, nil
		default:
			return nil, End{}, fmt.Errorf("direct get on %s: status %s %s", stream, status, m.Header.Get("Description"))
		}
		msg := Msg{Subject: m.Header.Get(hdrSubject), Header: m.Header, Data: m.Data}
		msg.Seq, _ = strconv.ParseUint(m.Header.Get(hdrSequence), 10, 64)
		msg.Time, _ = time.Parse(time.RFC3339Nano, m.Header.Get(hdrTimeStamp))
		msg.Pending, _ = strconv.ParseUint(m.Header.Get(hdrNumPending), 10, 64)
		out = append(out, msg)
		if req.Batch == 0 && len(req.MultiLast) == 0 { // a single last_by_subj answer
			return out, End{LastSeq: msg.Seq}, nil
		}
	}
}

// Last returns the last message on a subject matching filter, or nil when
// there is none.
func (r *Reader) Last(ctx context.Context, stream, filter string) (*Msg, error) {
	msgs, _, err := r.Get(ctx, stream, Request{LastFor: filter})
	if err != nil || len(msgs) == 0 {
		return nil, err
	}
	return &msgs[0], nil
}

// MaxMultiLast is the most subjects the server answers in one multi-last
// direct get; LastOf sends one request per as many.
const MaxMultiLast = 1024

// LastOf returns the last message of each subject that has one, in
// stream order within each request of up to MaxMultiLast subjects.
func (r *Reader) LastOf(ctx context.Context, stream string, subjects []string) ([]Msg, error) {
	var out []Msg
	for chunk := range slices.Chunk(subjects, MaxMultiLast) {
		msgs, _, err := r.Get(ctx, stream, Request{MultiLast: chunk})
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// Count returns how many messages of stream match filter, stored at or
// after since (zero: all): one request, answered from the server's index.
func (r *Reader) Count(ctx context.Context, stream, filter string, since time.Time) (uint64, error) {
	req := Request{NextFor: filter, Batch: 1, MaxBytes: 1}
	if !since.IsZero() {
		req.StartTime = &since
	}
	msgs, _, err := r.Get(ctx, stream, req)
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	return msgs[0].Pending + 1, nil
}

// Newest pages backwards: it returns up to limit messages matching filter
// and keep (nil: all), stored before sequence before (0: the stream's end)
// and at or after since (zero: any time), newest first, and the sequence
// to pass as before for the next page (0 when there is none). It reads
// windows of the stream ending at before, each four times the last, so a
// filter matching one message in a million costs a dozen requests, not a
// million.
func (r *Reader) Newest(ctx context.Context, stream, filter string, before uint64, since time.Time, limit int, keep func(*Msg) bool) ([]Msg, uint64, error) {
	if limit <= 0 {
		return nil, 0, nil
	}
	if before == 0 {
		last, err := r.Last(ctx, stream, filter)
		if err != nil || last == nil {
			return nil, 0, err
		}
		before = last.Seq + 1
	}
	var lowest uint64 = 1
	if !since.IsZero() {
		msgs, _, err := r.Get(ctx, stream, Request{StartTime: &since, NextFor: filter, Batch: 1, MaxBytes: 1})
		if err != nil {
			return nil, 0, err
		}
		if len(msgs) == 0 {
			return nil, 0, nil
		}
		lowest = msgs[0].Seq
	}
	var out []Msg
	window := uint64(max(2*limit, 64))
	end := before // exclusive
	for end > lowest && len(out) < limit {
		start := lowest
		if end-lowest > window {
			start = end - window
		}
		found, err := r.span(ctx, stream, filter, start, end, keep)
		if err != nil {
			return nil, 0, err
		}
		for i := len(found) - 1; i >= 0 && len(out) < limit; i-- {
			out = append(out, found[i])
		}
		end = start
		window *= 4
	}
	next := uint64(0)
	if len(out) == limit && out[len(out)-1].Seq > lowest {
		next = out[len(out)-1].Seq
	}
	return out, next, nil
}

// span returns the messages matching filter and keep with sequences in
// [start, end), oldest first.
func (r *Reader) span(ctx context.Context, stream, filter string, start, end uint64, keep func(*Msg) bool) ([]Msg, error) {
	var out []Msg
	for seq := start; seq < end; {
		batch := int(min(end-seq, 10000))
		msgs, _, err := r.Get(ctx, stream, Request{Seq: seq, NextFor: filter, Batch: batch})
		if err != nil {
			return nil, err
		}
		if len(msgs) == 0 {
			break
		}
		for i := range msgs {
			if msgs[i].Seq >= end {
				return out, nil
			}
			if keep == nil || keep(&msgs[i]) {
				out = append(out, msgs[i])
			}
		}
		last := msgs[len(msgs)-1]
		if last.Pending == 0 {
			break
		}
		seq = last.Seq + 1
	}
	return out, nil
}
