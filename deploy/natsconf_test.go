package deploy_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// confPath is the file under test: the nats.conf shipped at the repository
// root and mounted by docker-compose.yml.
const confPath = "../nats.conf"

// The stream names nats.conf grants access to, as `worker --provision`
// creates them (docs/protocol.md).
const (
	tasksStream   = "JETRUN_TASKS"
	eventsStream  = "JETRUN_EVENTS"
	cancelsStream = "JETRUN_CANCELS"
	resultsStream = "JETRUN_RESULTS"
)

// queue is the queue every test submits to, and consumer its durable
// consumer as the worker names it.
const queue = messages.DefaultQueue

var consumer = messages.ConsumerName(queue)

var subj = messages.NewSubjects(messages.DefaultPrefix)

// fixture is a nats-server started from nats.conf, and the passwords its
// users were given through the environment.
type fixture struct {
	srv       *server.Server
	passwords map[string]string
}

// startFromConf loads nats.conf with nats-server's own parser and starts it
// in process. Only what cannot work in a test is changed: the listener moves
// to a random loopback port, monitoring is off, and the store is a
// temporary directory. Users, permissions and limits are the file's.
func startFromConf(t *testing.T) *fixture {
	t.Helper()
	passwords := map[string]string{}
	for _, user := range []string{"submitter", "worker", "admin"} {
		pw := "jr" + randomHex(t)
		t.Setenv("JETRUN_"+strings.ToUpper(user)+"_PASSWORD", pw)
		passwords[user] = pw
	}
	opts, err := server.ProcessConfigFile(confPath)
	if err != nil {
		t.Fatalf("load %s: %v", confPath, err)
	}
	opts.Host = "127.0.0.1"
	opts.Port = -1
	opts.HTTPHost, opts.HTTPPort = "", 0
	opts.StoreDir = t.TempDir()
	return &fixture{srv: natstest.StartWith(t, opts), passwords: passwords}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// conn is one user's connection, with the asynchronous errors the server
// sent it (permission violations arrive that way).
type conn struct {
	user string
	nc   *nats.Conn
	js   jetstream.JetStream
	errs chan error
}

// inboxPrefix is each role's reply subject prefix, the only one nats.conf
// lets it subscribe to, set as docs/deployment.md tells clients to
// (nats.CustomInboxPrefix; JETRUN_INBOX_PREFIX for worker and submit). The
// admin keeps nats.go's default, _INBOX.
var inboxPrefix = map[string]string{
	"worker":    "_INBOX_worker",
	"submitter": "_INBOX_submitter",
}

// connect connects as user with its role's inbox prefix.
func (f *fixture) connect(t *testing.T, user string) *conn {
	t.Helper()
	var opts []nats.Option
	if p, ok := inboxPrefix[user]; ok {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	return f.connectWith(t, user, opts...)
}

// connectWith connects as user with opts and nats.go's defaults otherwise.
func (f *fixture) connectWith(t *testing.T, user string, opts ...nats.Option) *conn {
	t.Helper()
	c := &conn{user: user, errs: make(chan error, 64)}
	c.nc = natstest.Connect(t, f.srv, append([]nats.Option{
		nats.UserInfo(user, f.passwords[user]),
		nats.Name("deploy-test-" + user),
		nats.PermissionErrOnSubscribe(true),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case c.errs <- err:
			default:
			}
		}),
	}, opts...)...)
	js, err := jetstream.New(c.nc)
	if err != nil {
		t.Fatalf("%s: jetstream: %v", user, err)
	}
	c.js = js
	return c
}

// waitRefusal waits for the server to tell c that publishing to subject
// violates its permissions, and returns that error.
func (c *conn) waitRefusal(t *testing.T, subject string) error {
	t.Helper()
	want := fmt.Sprintf("Permissions Violation for Publish to %q", subject)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-c.errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), want) {
				return err
			}
			t.Logf("%s: other asynchronous error: %v", c.user, err)
		case <-deadline:
			t.Fatalf("%s: the server never refused publishing to %s", c.user, subject)
		}
	}
}

// refuse runs call, a request the server must refuse because c may not
// publish to subject. The server drops such a request and reports a
// permissions violation on the connection; the request itself never gets a
// reply. So call runs under a context that ends, with the violation as its
// cause, as soon as the report arrives, and refuse fails the test unless
// call was still waiting for that reply.
func (c *conn) refuse(t *testing.T, subject string, call func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	refusal := c.waitRefusal(t, subject)
	cancel(refusal)
	err := <-done
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%s -> %s: call returned %v; want it left without a reply after %v", c.user, subject, err, refusal)
	}
}

// provision creates, as the admin, the streams docs/protocol.md describes
// (twice, as re-running `worker --provision` does).
func (f *fixture) provision(t *testing.T) {
	t.Helper()
	a := f.connect(t, "admin")
	for range 2 {
		if err := worker.EnsureStreams(t.Context(), a.js, messages.DefaultPrefix); err != nil {
			t.Fatalf("admin: provision streams: %v", err)
		}
	}
}

// ensureLayout provisions the streams as the admin and creates, as the
// worker, the durable pull consumer of the default queue.
func ensureLayout(t *testing.T, f *fixture, w *conn) jetstream.Consumer {
	t.Helper()
	ctx := t.Context()
	f.provision(t)
	cons, err := w.js.CreateOrUpdateConsumer(ctx, tasksStream, jetstream.ConsumerConfig{
		Durable:       consumer,
		FilterSubject: subj.Task(queue),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       30 * time.Second,
		MaxDeliver:    5,
		MaxAckPending: 1000,
	})
	if err != nil {
		t.Fatalf("worker: ensure consumer %s: %v", consumer, err)
	}
	return cons
}

// submitTask publishes a task as the submitter and checks JetStream stored it.
func submitTask(t *testing.T, s *conn, id string) []byte {
	t.Helper()
	data, err := messages.Encode(&messages.Task{ID: id, Image: "demo:latest", Cmd: []string{"echo", "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := s.js.Publish(t.Context(), subj.Task(queue), data, jetstream.WithMsgID(id))
	if err != nil {
		t.Fatalf("submitter: publish task: %v", err)
	}
	if ack.Stream != tasksStream || ack.Duplicate {
		t.Fatalf("submitter: publish ack %+v; want a new message in %s", ack, tasksStream)
	}
	return data
}

func streamMsgs(t *testing.T, c *conn, stream string) uint64 {
	t.Helper()
	st, err := c.js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("%s: stream %s: %v", c.user, stream, err)
	}
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatalf("%s: stream info %s: %v", c.user, stream, err)
	}
	return info.State.Msgs
}

func TestConfLoadsWithLimitsAndUsers(t *testing.T) {
	f := startFromConf(t)
	opts := f.srv.JetStreamConfig()
	if opts == nil {
		t.Fatal("JetStream is not enabled")
	}
	if opts.MaxMemory <= 0 || opts.MaxStore <= 0 {
		t.Fatalf("JetStream limits: max memory %d, max store %d; want both set", opts.MaxMemory, opts.MaxStore)
	}
	acc, err := f.srv.LookupAccount("JETRUN")
	if err != nil {
		t.Fatalf("account JETRUN: %v", err)
	}
	if !acc.JetStreamEnabled() {
		t.Fatal("account JETRUN has no JetStream")
	}
	for user := range f.passwords {
		c := f.connect(t, user)
		if _, err := c.js.AccountInfo(t.Context()); err != nil {
			t.Fatalf("%s: JetStream account info: %v", user, err)
		}
	}
}

func TestConfRefusesUnknownClients(t *testing.T) {
	f := startFromConf(t)
	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"wrong password": {nats.UserInfo("worker", f.passwords["submitter"])},
		"unknown user":   {nats.UserInfo("guest", "guest")},
	} {
		nc, err := nats.Connect(f.srv.ClientURL(), append(opts, nats.MaxReconnects(0))...)
		if err == nil {
			nc.Close()
			t.Fatalf("%s: connected; want an authorization error", name)
		}
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("%s: %v; want %v", name, err, nats.ErrAuthorization)
		}
	}
}

func TestConfNeedsEveryPassword(t *testing.T) {
	startFromConf(t) // sets all three variables
	t.Setenv("JETRUN_WORKER_PASSWORD", "")
	if err := os.Unsetenv("JETRUN_WORKER_PASSWORD"); err != nil {
		t.Fatal(err)
	}
	_, err := server.ProcessConfigFile(confPath)
	if err == nil || !strings.Contains(err.Error(), "JETRUN_WORKER_PASSWORD") {
		t.Fatalf("load without JETRUN_WORKER_PASSWORD: %v; want an error naming the variable", err)
	}
}

// TestTaskRoundTrip walks everything the two roles must be able to do, in
// the order a real task goes.
func TestTaskRoundTrip(t *testing.T) {
	f := startFromConf(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	ctx := t.Context()
	cons := ensureLayout(t, f, w)

	// The submitter can see that a worker has set things up.
	if _, err := s.js.Stream(ctx, tasksStream); err != nil {
		t.Fatalf("submitter: stream info %s: %v", tasksStream, err)
	}
	if name, err := s.js.StreamNameBySubject(ctx, subj.Task(queue)); err != nil || name != tasksStream {
		t.Fatalf("submitter: stream by subject: %q, %v", name, err)
	}

	// Worker listens for cancels, submitter for the task's events.
	cancels, err := w.nc.SubscribeSync(subj.AllCancels())
	if err != nil {
		t.Fatalf("worker: subscribe cancels: %v", err)
	}
	events, err := s.nc.SubscribeSync(subj.Events("t1") + ".>")
	if err != nil {
		t.Fatalf("submitter: subscribe events: %v", err)
	}
	for _, c := range []*conn{w, s} {
		if err := c.nc.FlushTimeout(5 * time.Second); err != nil {
			t.Fatal(err)
		}
	}

	task := submitTask(t, s, "t1")

	// The worker pulls the task, heartbeats its lease and acks it.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatalf("worker: fetch: %v", err)
	}
	var got jetstream.Msg
	for m := range batch.Messages() {
		got = m
	}
	if batch.Error() != nil || got == nil {
		t.Fatalf("worker: fetch got %v, error %v; want the task", got, batch.Error())
	}
	if !bytes.Equal(got.Data(), task) {
		t.Fatal("worker: fetched message is not the task that was published")
	}
	if err := got.InProgress(); err != nil {
		t.Fatalf("worker: in progress: %v", err)
	}

	// A cancel from the submitter reaches the worker live and durably.
	cancel, err := messages.Encode(&messages.Cancel{ID: "t1", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.nc.Publish(subj.Cancel("t1"), cancel); err != nil {
		t.Fatalf("submitter: publish cancel: %v", err)
	}
	if m, err := cancels.NextMsg(5 * time.Second); err != nil || !bytes.Equal(m.Data, cancel) {
		t.Fatalf("worker: live cancel: %v", err)
	}
	cancelStream, err := w.js.Stream(ctx, cancelsStream)
	if err != nil {
		t.Fatalf("worker: stream %s: %v", cancelsStream, err)
	}
	natstest.Eventually(t, 5*time.Second, func() bool {
		m, err := cancelStream.GetLastMsgForSubject(ctx, subj.Cancel("t1"))
		return err == nil && bytes.Equal(m.Data, cancel)
	}, "worker: the cancel never appeared in %s", cancelsStream)

	// The worker publishes the result with a JetStream ack.
	result, err := messages.Encode(&messages.Result{ID: "t1", Status: messages.ResultCancelled, ExitCode: -1, Finished: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	resultSubject := messages.ResultSubject(subj.Events("t1"))
	if _, err := w.js.Publish(ctx, resultSubject, result, jetstream.WithMsgID("t1.result")); err != nil {
		t.Fatalf("worker: publish result: %v", err)
	}
	// Before running a redelivered task, the worker looks for its result.
	eventStreamW, err := w.js.Stream(ctx, eventsStream)
	if err != nil {
		t.Fatalf("worker: stream %s: %v", eventsStream, err)
	}
	if _, err := eventStreamW.GetLastMsgForSubject(ctx, resultSubject); err != nil {
		t.Fatalf("worker: look up result: %v", err)
	}
	if err := got.DoubleAck(ctx); err != nil {
		t.Fatalf("worker: ack: %v", err)
	}
	if n := streamMsgs(t, w, tasksStream); n != 0 {
		t.Fatalf("%s holds %d messages after the ack; want 0 (work-queue retention)", tasksStream, n)
	}

	// The submitter sees the result live...
	if m, err := events.NextMsg(5 * time.Second); err != nil || m.Subject != resultSubject || !bytes.Equal(m.Data, result) {
		t.Fatalf("submitter: live result: %v", err)
	}
	// ...and from the stream: last message by subject, direct and through
	// the leader...
	eventStream, err := s.js.Stream(ctx, eventsStream)
	if err != nil {
		t.Fatalf("submitter: stream %s: %v", eventsStream, err)
	}
	if m, err := eventStream.GetLastMsgForSubject(ctx, resultSubject); err != nil || !bytes.Equal(m.Data, result) {
		t.Fatalf("submitter: direct get of the result: %v", err)
	}
	req, _ := json.Marshal(map[string]string{"last_by_subj": resultSubject})
	reply, err := s.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+eventsStream, req)
	if err != nil || !bytes.Contains(reply.Data, []byte(`"message"`)) {
		t.Fatalf("submitter: msg get of the result: %v %s", err, replyData(reply))
	}
	// ...and by replaying the task's events with an ordered consumer.
	oc, err := s.js.OrderedConsumer(ctx, eventsStream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subj.Events("t1") + ".>"},
	})
	if err != nil {
		t.Fatalf("submitter: ordered consumer on %s: %v", eventsStream, err)
	}
	m, err := oc.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil || m.Subject() != resultSubject || !bytes.Equal(m.Data(), result) {
		t.Fatalf("submitter: replayed result: %v", err)
	}
	// And with a plain ephemeral consumer, acked, then deleted.
	ec, err := s.js.CreateConsumer(ctx, eventsStream, jetstream.ConsumerConfig{
		FilterSubject:     resultSubject,
		AckPolicy:         jetstream.AckExplicitPolicy,
		InactiveThreshold: time.Minute,
	})
	if err != nil {
		t.Fatalf("submitter: ephemeral consumer on %s: %v", eventsStream, err)
	}
	em, err := ec.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("submitter: fetch from the ephemeral consumer: %v", err)
	}
	if err := em.DoubleAck(ctx); err != nil {
		t.Fatalf("submitter: ack an event: %v", err)
	}
	if err := s.js.DeleteConsumer(ctx, eventsStream, ec.CachedInfo().Name); err != nil {
		t.Fatalf("submitter: delete its consumer: %v", err)
	}
}

func replyData(m *nats.Msg) string {
	if m == nil {
		return ""
	}
	return string(m.Data)
}

// TestSubmitterCannotConsumeTasks: a submitter can put work in the queue
// (and list it, see TestInventoryUnderTheShippedConf) but never take it
// out or see it on the wire.
func TestSubmitterCannotConsumeTasks(t *testing.T) {
	f := startFromConf(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	cons := ensureLayout(t, f, w)
	submitTask(t, s, "t1")

	// No consumer of its own on the task stream, durable or ephemeral.
	createSubject := "$JS.API.CONSUMER.CREATE." + tasksStream + ".thief." + subj.Task(queue)
	s.refuse(t, createSubject, func(ctx context.Context) error {
		_, err := s.js.CreateConsumer(ctx, tasksStream, jetstream.ConsumerConfig{
			Durable: "thief", FilterSubject: subj.Task(queue), AckPolicy: jetstream.AckExplicitPolicy,
		})
		return err
	})
	// No pulling from the workers' consumer.
	nextSubject := "$JS.API.CONSUMER.MSG.NEXT." + tasksStream + "." + consumer
	s.refuse(t, nextSubject, func(ctx context.Context) error {
		_, err := s.nc.RequestWithContext(ctx, nextSubject, []byte(`{"batch":1,"expires":2000000000}`))
		return err
	})
	// Nor deleting it (looking it up is allowed: submit queues reads its
	// counts).
	deleteSubject := "$JS.API.CONSUMER.DELETE." + tasksStream + "." + consumer
	s.refuse(t, deleteSubject, func(ctx context.Context) error {
		return s.js.DeleteConsumer(ctx, tasksStream, consumer)
	})
	// No reading a stored task.
	getSubject := "$JS.API.STREAM.MSG.GET." + tasksStream
	s.refuse(t, getSubject, func(ctx context.Context) error {
		_, err := s.nc.RequestWithContext(ctx, getSubject, []byte(`{"seq":1}`))
		return err
	})
	// No watching tasks on the core subject.
	sub, err := s.nc.SubscribeSync(subj.AllTasks())
	if err != nil {
		t.Fatalf("submitter: subscribe: %v", err)
	}
	if _, err := sub.NextMsg(5 * time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
		t.Fatalf("submitter: subscribe to %s: %v; want %v", subj.AllTasks(), err, nats.ErrPermissionViolation)
	}

	// The task is untouched: the worker's consumer still has it, and no
	// other consumer exists on the stream.
	info, err := cons.Info(t.Context())
	if err != nil {
		t.Fatalf("worker: consumer info: %v", err)
	}
	if info.NumPending != 1 || info.NumAckPending != 0 || info.Delivered.Consumer != 0 {
		t.Fatalf("consumer %s: pending %d, ack pending %d, delivered %d; want the task waiting, never delivered",
			consumer, info.NumPending, info.NumAckPending, info.Delivered.Consumer)
	}
	stream, err := w.js.Stream(t.Context(), tasksStream)
	if err != nil {
		t.Fatal(err)
	}
	if sinfo, err := stream.Info(t.Context()); err != nil || sinfo.State.Consumers != 1 {
		t.Fatalf("%s: %v consumers (%v); want only %s", tasksStream, sinfo.State.Consumers, err, consumer)
	}
}

// TestWorkerCannotPublishTasks: a worker (or whoever steals its password)
// cannot inject work or cancel it.
func TestWorkerCannotPublishTasks(t *testing.T) {
	f := startFromConf(t)
	w := f.connect(t, "worker")
	ensureLayout(t, f, w)

	data, err := messages.Encode(&messages.Task{ID: "evil", Image: "evil:latest"})
	if err != nil {
		t.Fatal(err)
	}
	w.refuse(t, subj.Task(queue), func(ctx context.Context) error {
		_, err := w.js.Publish(ctx, subj.Task(queue), data, jetstream.WithMsgID("evil"))
		return err
	})
	// A plain publish is refused the same way (core publishes are
	// fire-and-forget, so the refusal only shows on the connection).
	if err := w.nc.Publish(subj.Task("other"), data); err != nil {
		t.Fatal(err)
	}
	w.waitRefusal(t, subj.Task("other"))
	if err := w.nc.Publish(subj.Cancel("t1"), nil); err != nil {
		t.Fatal(err)
	}
	w.waitRefusal(t, subj.Cancel("t1"))

	if n := streamMsgs(t, w, tasksStream); n != 0 {
		t.Fatalf("%s holds %d messages; want none", tasksStream, n)
	}
	if n := streamMsgs(t, w, cancelsStream); n != 0 {
		t.Fatalf("%s holds %d messages; want none", cancelsStream, n)
	}
}

// TestOnlyAdminDeletesStreams: neither role can delete or purge the
// streams; the admin user can.
func TestOnlyAdminDeletesStreams(t *testing.T) {
	f := startFromConf(t)
	w, s, a := f.connect(t, "worker"), f.connect(t, "submitter"), f.connect(t, "admin")
	ensureLayout(t, f, w)
	submitTask(t, s, "t1")

	for _, c := range []*conn{s, w} {
		for _, stream := range []string{tasksStream, eventsStream} {
			c.refuse(t, "$JS.API.STREAM.DELETE."+stream, func(ctx context.Context) error {
				return c.js.DeleteStream(ctx, stream)
			})
			c.refuse(t, "$JS.API.STREAM.PURGE."+stream, func(ctx context.Context) error {
				st, err := a.js.Stream(ctx, stream) // a handle, looked up by the admin
				if err != nil {
					return err
				}
				// Purge through the refused user's connection.
				_, err = c.nc.RequestWithContext(ctx, "$JS.API.STREAM.PURGE."+st.CachedInfo().Config.Name, nil)
				return err
			})
		}
	}
	s.refuse(t, "$JS.API.STREAM.CREATE.MINE", func(ctx context.Context) error {
		_, err := s.js.CreateStream(ctx, jetstream.StreamConfig{Name: "MINE", Subjects: []string{"mine.>"}})
		return err
	})
	if n := streamMsgs(t, a, tasksStream); n != 1 {
		t.Fatalf("%s holds %d messages; want the submitted task", tasksStream, n)
	}

	if err := a.js.DeleteStream(t.Context(), tasksStream); err != nil {
		t.Fatalf("admin: delete stream: %v", err)
	}
}

// TestRefusedCallGetsNoReply pins down what a client sees for a refused
// JetStream API call, as docs/deployment.md states it: no API error comes
// back, the call ends at its own deadline, and the refusal itself reaches
// the connection's error handler as nats.ErrPermissionViolation.
func TestRefusedCallGetsNoReply(t *testing.T) {
	f := startFromConf(t)
	w, s := f.connect(t, "worker"), f.connect(t, "submitter")
	ensureLayout(t, f, w)

	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := s.js.DeleteStream(ctx, tasksStream)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("submitter: delete stream: %v; want %v", err, context.DeadlineExceeded)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		t.Fatalf("submitter: delete stream: got a JetStream API error %v; the request should never reach JetStream", apiErr)
	}
	s.waitRefusal(t, "$JS.API.STREAM.DELETE."+tasksStream)
	if !s.nc.IsConnected() {
		t.Fatal("a permission violation closed the connection")
	}
}
