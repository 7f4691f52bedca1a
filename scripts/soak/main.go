// Command soak runs a jetrun fleet on an in-process 3-node JetStream
// cluster through worker kills and node outages, and reports what became
// of every task (issue 11). For each stream named in -streams it starts a
// fresh cluster on loopback (each node its own store under a temporary
// directory), provisions the streams with -replicas, runs -workers
// in-process workers on the fake driver, publishes -tasks tasks paced over
// -pace, kills a worker every -kill-every (on average) as kill -9 would
// look to NATS and starts a replacement under a new id, and -lead after
// the start takes down
// the node that leads (or, with one replica, holds) that stream for
// -outage (with replicas > 1, -isolate first moves the leadership of the
// node's other streams and of the queue's consumer elsewhere). It then
// waits until every task has a stored result, at most -settle after the
// node came back, and prints one report per scenario:
//
//	SOAK stream=<s> replicas=<r> tasks=<n> results=<n> lost=<n> duplicated=<n> errors=<n> kills=<n> outages=<n> wall=<d>
//
// tasks counts acknowledged publishes, results tasks with a stored result
// in JETRUN_RESULTS, lost acknowledged tasks without one, duplicated tasks
// whose run count in JETRUN_RUNS is above 1, errors stored results other
// than success (their texts follow, deduplicated). A second line tells
// how many publishes were retried, when the last publish and the last
// result came, tasks with more than one stored result, tasks the fake
// drivers ran more than once and how many of those had an earlier run on a
// worker that was never killed (a re-run a kill does not explain), the
// highest run count and the messages left in JETRUN_TASKS; node_led names
// the streams the downed node led when it went down.
//
// Run it from the module root: `go run ./scripts/soak -replicas 3 -outage 60s`.
//
// A node is taken down with the cluster helper's Stop, a clean server
// Shutdown (its raft groups are told it leaves), not a crash.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// options are the command-line flags.
type options struct {
	replicas  int
	outage    time.Duration
	tasks     int
	workers   int
	streams   []string
	killEvery time.Duration
	lead      time.Duration
	pace      time.Duration
	settle    time.Duration
	cmd       []string
	logPath   string
	isolate   bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

// run parses args and runs one scenario per stream, printing each report
// to out as it ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	var o options
	var streams, cmd string
	fs.IntVar(&o.replicas, "replicas", 3, "replicas of every stream")
	fs.DurationVar(&o.outage, "outage", 60*time.Second, "how long the node is down")
	fs.IntVar(&o.tasks, "tasks", 600, "tasks per scenario")
	fs.IntVar(&o.workers, "workers", 3, "workers running at once")
	fs.StringVar(&streams, "streams", "JETRUN_TASKS,JETRUN_EVENTS,JETRUN_RESULTS", "one scenario per stream, in order: the node leading (holding) it goes down")
	fs.DurationVar(&o.killEvery, "kill-every", 5*time.Second, "a worker is killed and replaced this often on average, each interval drawn from [every/2, 3*every/2) (0: never)")
	fs.DurationVar(&o.lead, "lead", 10*time.Second, "time from the first task to the node outage")
	fs.DurationVar(&o.pace, "pace", 0, "tasks are published evenly over this time (default lead+outage+10s)")
	fs.DurationVar(&o.settle, "settle", 3*time.Minute, "longest wait for results after the node is back")
	fs.StringVar(&cmd, "cmd", "sleep 200ms ; echo ok", "each task's testee steps, split on spaces")
	fs.BoolVar(&o.isolate, "isolate", true, "with replicas > 1, before the outage step down the other streams (and the queue's consumer) the node leads, so that it leads only the one stream")
	fs.StringVar(&o.logPath, "log", "", "append worker logs (level info) to this file (default: discarded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.streams = strings.Split(streams, ",")
	o.cmd = strings.Fields(cmd)
	if o.pace == 0 {
		o.pace = o.lead + o.outage + 10*time.Second
	}
	if o.replicas < 1 || o.replicas > 3 || o.tasks < 1 || o.workers < 1 {
		return errors.New("need 1 <= -replicas <= 3, -tasks >= 1, -workers >= 1")
	}
	logOut := io.Discard
	if o.logPath != "" {
		f, err := os.OpenFile(o.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	for _, stream := range o.streams {
		rep, err := scenario(ctx, o, stream, log.With("scenario", stream))
		if err != nil {
			return fmt.Errorf("scenario %s: %w", stream, err)
		}
		rep.print(out)
	}
	return nil
}

// report is what became of one scenario's tasks.
type report struct {
	stream        string
	replicas      int
	tasks         int // publishes acknowledged
	results       int // tasks with a stored result
	multiResults  int // tasks with more than one stored result
	lost          int // acknowledged tasks without a stored result
	duplicated    int // tasks started more than once (JETRUN_RUNS)
	driverDup     int // tasks the fake drivers ran more than once
	dupNotKilled  int // of those, tasks with an earlier run on a worker never killed
	maxRuns       int
	errors        int // stored results other than success
	errorTexts    map[string]int
	left          uint64 // messages still in JETRUN_TASKS at the end
	kills         int
	outages       int
	outage        time.Duration
	nodeLed       []string // the streams the downed node led when it went down
	publishRetry  int
	lastPublished time.Duration // from the start to the last acknowledged publish
	allResults    time.Duration // from the start to the last result (0: not all)
	wall          time.Duration
}

func (r *report) print(out io.Writer) {
	fmt.Fprintf(out, "SOAK stream=%s replicas=%d tasks=%d results=%d lost=%d duplicated=%d errors=%d kills=%d outages=%d wall=%s\n",
		r.stream, r.replicas, r.tasks, r.results, r.lost, r.duplicated, r.errors, r.kills, r.outages, r.wall.Round(time.Second))
	all := "never"
	if r.allResults > 0 {
		all = r.allResults.Round(time.Second).String()
	}
	fmt.Fprintf(out, "  node_led=%s outage=%s publish_retries=%d last_publish_at=%s all_results_at=%s multi_results=%d driver_dup=%d dup_not_after_kill=%d max_runs=%d left_in_tasks=%d\n",
		strings.Join(r.nodeLed, ","), r.outage, r.publishRetry, r.lastPublished.Round(time.Second), all, r.multiResults, r.driverDup, r.dupNotKilled, r.maxRuns, r.left)
	texts := make([]string, 0, len(r.errorTexts))
	for t := range r.errorTexts {
		texts = append(texts, t)
	}
	sort.Strings(texts)
	for _, t := range texts {
		fmt.Fprintf(out, "  error x%d: %s\n", r.errorTexts[t], t)
	}
}

// scenario runs one soak against a fresh cluster in which the node leading
// stream goes down once for o.outage.
func scenario(ctx context.Context, o options, stream string, log *slog.Logger) (*report, error) {
	began := time.Now()
	dir, err := os.MkdirTemp("", "jetrun-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	c, stopCluster := natstest.StartClusterIn(dir, 3)
	defer stopCluster()

	nc, err := connect(c.URLs(), nil)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	if err := untilOK(ctx, time.Minute, func(ctx context.Context) error {
		return worker.Provision(ctx, js, worker.Config{Streams: worker.StreamConfig{Replicas: o.replicas}}, log)
	}); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}

	f := newFleet(c.URLs(), o.replicas, log)
	defer f.stopAll()
	for range o.workers {
		if err := f.add(); err != nil {
			return nil, err
		}
	}

	rep := &report{stream: stream, replicas: o.replicas, errorTexts: map[string]int{}}
	start := time.Now()
	ids := make([]string, o.tasks)
	for i := range ids {
		ids[i] = fmt.Sprintf("soak-%s-%04d", strings.ToLower(strings.TrimPrefix(stream, "JETRUN_")), i)
	}
	cl, err := client.New(nc, client.WithPublishTimeout(5*time.Second))
	if err != nil {
		return nil, err
	}
	pub := publish(ctx, cl, ids, o, start)

	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	kills := make(chan int, 1)
	go func() { kills <- f.killLoop(runCtx, o.killEvery) }()

	// The outage: lead after the start, the node leading stream goes down
	// for o.outage, then comes back with its store.
	if err := sleep(ctx, o.lead); err != nil {
		return nil, err
	}
	leader := c.StreamLeader(stream, 30*time.Second)
	if o.isolate && o.replicas > 1 {
		isolate(ctx, nc, c, leader, stream, log)
	}
	log.Info("node down", "node", leader, "stream", stream)
	for _, s := range worker.StreamNames() {
		if c.Node(leader).JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, s) {
			rep.nodeLed = append(rep.nodeLed, s)
		}
	}
	if c.Node(leader).JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, messages.TasksStream, messages.ConsumerName("default")) {
		rep.nodeLed = append(rep.nodeLed, "consumer")
	}
	down := time.Now()
	c.Stop(leader)
	rep.outages++
	if err := sleep(ctx, o.outage); err != nil {
		return nil, err
	}
	c.Start(leader)
	rep.outage = time.Since(down).Round(100 * time.Millisecond)
	log.Info("node up", "node", leader, "stream", stream)
	back := time.Now()

	// Wait until every acknowledged task has a stored result, or settle
	// has passed since the node came back.
	published := <-pub
	rep.tasks, rep.publishRetry, rep.lastPublished = published.acked, published.retries, published.last.Sub(start)
	for {
		if n := len(storedResults(ctx, js)); n >= rep.tasks {
			rep.allResults = time.Since(start)
			break
		}
		if time.Since(back) > o.settle {
			break
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return nil, err
		}
	}
	stopRun()
	rep.kills = <-kills
	f.stopAll()

	if err := tally(ctx, js, ids, published.stored, f, rep); err != nil {
		return nil, err
	}
	rep.wall = time.Since(began)
	return rep, nil
}

// isolate asks every stream other than stream that node leads, and the
// default queue's consumer unless stream is JETRUN_TASKS, to elect another
// leader, trying for at most 20 s; what it could not move is left as it is
// (the report names what the node led when it went down).
func isolate(ctx context.Context, nc *nats.Conn, c *natstest.Cluster, node int, stream string, log *slog.Logger) {
	consumer := messages.ConsumerName("default")
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var subjects []string
		for _, s := range worker.StreamNames() {
			if s != stream && c.Node(node).JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, s) {
				subjects = append(subjects, "$JS.API.STREAM.LEADER.STEPDOWN."+s)
			}
		}
		if stream != messages.TasksStream && c.Node(node).JetStreamIsConsumerLeader(server.DEFAULT_GLOBAL_ACCOUNT, messages.TasksStream, consumer) {
			subjects = append(subjects, "$JS.API.CONSUMER.LEADER.STEPDOWN."+messages.TasksStream+"."+consumer)
		}
		if len(subjects) == 0 {
			return
		}
		for _, subj := range subjects {
			if _, err := nc.Request(subj, nil, 5*time.Second); err != nil {
				log.Info("step down", "subject", subj, "err", err)
			}
		}
		if sleep(ctx, time.Second) != nil {
			return
		}
	}
}

// published is how the publishing of a scenario's tasks went.
type published struct {
	stored  map[string]bool // ids whose publish was acknowledged
	acked   int
	retries int
	last    time.Time
}

// publish submits ids evenly over o.pace from start, each again (same id,
// so stored once) after a failed or unacknowledged publish, until
// acknowledged or o.pace+o.settle has passed. The channel gets the outcome
// once every publish has ended.
func publish(ctx context.Context, cl *client.Client, ids []string, o options, start time.Time) <-chan published {
	res := make(chan published, 1)
	go func() {
		var mu sync.Mutex
		p := published{stored: map[string]bool{}}
		giveUp := start.Add(o.pace + o.outage + o.settle)
		var wg sync.WaitGroup
		every := o.pace / time.Duration(len(ids))
		for i, id := range ids {
			if err := sleep(ctx, time.Until(start.Add(time.Duration(i)*every))); err != nil {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				t := &messages.Task{ID: id, Image: "jetrun-testee:latest", Cmd: o.cmd}
				for attempt := 0; time.Now().Before(giveUp); attempt++ {
					if attempt > 0 {
						mu.Lock()
						p.retries++
						mu.Unlock()
						if sleep(ctx, time.Second) != nil {
							return
						}
					}
					pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					pend, err := cl.SubmitAsync(pctx, t)
					if err == nil {
						_, err = pend.Wait(pctx)
					}
					cancel()
					if err == nil {
						mu.Lock()
						p.stored[id] = true
						p.acked++
						p.last = time.Now()
						mu.Unlock()
						return
					}
				}
			}()
		}
		wg.Wait()
		res <- p
	}()
	return res
}

// tally fills rep from the streams and the fleet's drivers.
func tally(ctx context.Context, js jetstream.JetStream, ids []string, stored map[string]bool, f *fleet, rep *report) error {
	var results, runs jetstream.Stream
	if err := untilOK(ctx, time.Minute, func(ctx context.Context) error {
		var err error
		if results, err = js.Stream(ctx, messages.ResultsStream); err != nil {
			return err
		}
		runs, err = js.Stream(ctx, messages.RunsStream)
		return err
	}); err != nil {
		return err
	}
	counts := storedResults(ctx, js)
	subj := messages.NewSubjects("")
	for _, id := range ids {
		n := counts[subj.StoredResult(id)]
		if n > 1 {
			rep.multiResults++
		}
		if n == 0 {
			if stored[id] {
				rep.lost++
			}
		} else {
			rep.results++
			var m *jetstream.RawStreamMsg
			if err := untilOK(ctx, 30*time.Second, func(ctx context.Context) error {
				var err error
				m, err = results.GetLastMsgForSubject(ctx, subj.StoredResult(id))
				return err
			}); err != nil {
				return fmt.Errorf("result of %s: %w", id, err)
			}
			r, err := messages.DecodeResult(m.Data)
			if err != nil {
				return fmt.Errorf("result of %s: %w", id, err)
			}
			if r.Status != messages.ResultSuccess {
				rep.errors++
				rep.errorTexts[r.Status+": "+r.Error]++
			}
		}
		var m *jetstream.RawStreamMsg
		err := untilOK(ctx, 30*time.Second, func(ctx context.Context) error {
			var err error
			m, err = runs.GetLastMsgForSubject(ctx, subj.Run(id))
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("runs of %s: %w", id, err)
		}
		if m != nil {
			if r, err := messages.DecodeRun(m.Data); err == nil {
				if r.Run > 1 {
					rep.duplicated++
				}
				rep.maxRuns = max(rep.maxRuns, r.Run)
			}
		}
		if by := f.runs(id); len(by) > 1 {
			rep.driverDup++
			for _, w := range by[:len(by)-1] {
				if !f.wasKilled(w) {
					rep.dupNotKilled++
					break
				}
			}
		}
	}
	return untilOK(ctx, 30*time.Second, func(ctx context.Context) error {
		st, err := js.Stream(ctx, messages.TasksStream)
		if err == nil {
			rep.left = st.CachedInfo().State.Msgs
		}
		return err
	})
}

// storedResults returns how many results JETRUN_RESULTS holds per subject,
// nil while it cannot be asked.
func storedResults(ctx context.Context, js jetstream.JetStream) map[string]uint64 {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, messages.ResultsStream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(messages.NewSubjects("").AllStoredResults()))
	if err != nil {
		return nil
	}
	return info.State.Subjects
}

// fleet is the workers of a scenario: o.workers at a time, each on a
// connection of its own; it records which workers' fake drivers ran each
// task, in order, and which workers were killed.
type fleet struct {
	urls     string
	replicas int
	log      *slog.Logger
	mu       sync.Mutex
	live     []*member
	next     int
	ranBy    map[string][]string
	killed   map[string]bool
}

// member is one running worker.
type member struct {
	id     string
	w      *worker.Worker
	nc     *nats.Conn
	dialer *killDialer
	cancel context.CancelFunc
	done   chan struct{}
}

func newFleet(urls string, replicas int, log *slog.Logger) *fleet {
	return &fleet{urls: urls, replicas: replicas, log: log, ranBy: map[string][]string{}, killed: map[string]bool{}}
}

// add starts a worker with a new id: concurrency 4, ack wait 10 s,
// MaxDeliver 5, the rest the worker's defaults.
func (f *fleet) add() error {
	f.mu.Lock()
	id := fmt.Sprintf("w%d", f.next)
	f.next++
	f.mu.Unlock()
	d := &killDialer{}
	nc, err := connect(f.urls, d)
	if err != nil {
		return err
	}
	drv := fake.New(fake.Options{WorkerID: id})
	drv.OnRun(func(t driver.ContainerTask) {
		f.mu.Lock()
		f.ranBy[t.Id()] = append(f.ranBy[t.Id()], id)
		f.mu.Unlock()
	})
	cfg := worker.Config{
		WorkerID:    id,
		Concurrency: 4,
		AckWait:     10 * time.Second,
		MaxDeliver:  5,
		Streams:     worker.StreamConfig{Replicas: f.replicas},
	}
	w, err := worker.New(nc, drv, cfg, f.log.With("w", id))
	if err != nil {
		nc.Close()
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{id: id, w: w, nc: nc, dialer: d, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		if err := w.Run(ctx); err != nil {
			f.log.Error("worker Run", "w", id, "err", err)
		}
	}()
	f.mu.Lock()
	f.live = append(f.live, m)
	f.mu.Unlock()
	return nil
}

// runs is the workers whose drivers ran task id, one per run, in order.
func (f *fleet) runs(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ranBy[id]...)
}

// wasKilled tells whether worker id was killed.
func (f *fleet) wasKilled(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.killed[id]
}

// killLoop kills a random worker at random intervals of every/2 to
// 3*every/2 (mean every, never in step with AckWait) and starts a
// replacement, until ctx ends; it returns how many it killed.
func (f *fleet) killLoop(ctx context.Context, every time.Duration) int {
	if every <= 0 {
		<-ctx.Done()
		return 0
	}
	kills := 0
	for sleep(ctx, every/2+rand.N(every)) == nil {
		f.mu.Lock()
		if len(f.live) == 0 {
			f.mu.Unlock()
			continue
		}
		i := rand.IntN(len(f.live))
		m := f.live[i]
		f.live = append(f.live[:i], f.live[i+1:]...)
		f.killed[m.id] = true
		f.mu.Unlock()
		m.kill()
		kills++
		if err := f.add(); err != nil {
			f.log.Error("replacement worker", "err", err)
		}
	}
	return kills
}

// kill makes m vanish as a process killed with SIGKILL would look to
// NATS: its TCP connection is cut with whatever was not yet written, it
// never reconnects, and nothing is acked, naked or published afterwards.
// Its goroutines and fake containers are then stopped in the background.
func (m *member) kill() {
	m.dialer.kill()
	m.nc.Close()
	m.w.Interrupt()
	m.cancel()
}

// stopAll stops every live worker, draining, and waits for the killed and
// stopped ones to return (at most a minute).
func (f *fleet) stopAll() {
	f.mu.Lock()
	live := f.live
	f.live = nil
	f.mu.Unlock()
	for _, m := range live {
		m.w.Interrupt()
		m.cancel()
	}
	for _, m := range live {
		select {
		case <-m.done:
		case <-time.After(time.Minute):
		}
		m.nc.Close()
	}
}

// killDialer dials TCP for one connection and can cut it: after kill its
// open connections are closed and every new dial fails.
type killDialer struct {
	mu    sync.Mutex
	dead  bool
	conns []net.Conn
}

func (k *killDialer) Dial(network, address string) (net.Conn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.dead {
		return nil, errors.New("soak: this worker was killed")
	}
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
	if err != nil {
		return nil, err
	}
	k.conns = append(k.conns, c)
	return c, nil
}

func (k *killDialer) kill() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.dead = true
	for _, c := range k.conns {
		_ = c.Close()
	}
}

// connect connects to urls (every node), reconnecting for ever; with d,
// through d.
func connect(urls string, d *killDialer) (*nats.Conn, error) {
	opts := []nats.Option{nats.MaxReconnects(-1), nats.ReconnectWait(100 * time.Millisecond)}
	if d != nil {
		opts = append(opts, nats.SetCustomDialer(d))
	}
	return nats.Connect(urls, opts...)
}

// untilOK calls f, each try bounded to 5 s, until it returns nil, ctx ends
// or within has passed; it returns the last error.
func untilOK(ctx context.Context, within time.Duration, f func(context.Context) error) error {
	deadline := time.Now().Add(within)
	for {
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := f(tctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleep waits d (the tool's pacing) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
