package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/messages"
)

// newClusterEnv starts a 3-node JetStream cluster and connects the test to
// it (reconnecting across node outages). With provision, the streams are
// provisioned with replicas replicas, retried while the fresh cluster
// settles.
func newClusterEnv(t *testing.T, replicas int, provision bool) (*env, *natstest.Cluster) {
	t.Helper()
	c := natstest.StartCluster(t, 3)
	nc, err := nats.Connect(c.URLs(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, url: c.URLs(), nc: nc, js: js}
	if provision {
		natstest.Eventually(t, 30*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return Provision(ctx, js, Config{Streams: StreamConfig{Replicas: replicas}}, testLogger(t)) == nil
		}, "streams not provisioned with %d replicas", replicas)
	}
	return e, c
}

// clusterConfig is testConfig for a worker of a fleet on a cluster, with
// room for leader elections (seconds) in its lease.
func clusterConfig(id string) Config {
	cfg := testConfig(id)
	cfg.Concurrency = 4
	cfg.AckWait = 5 * time.Second
	cfg.NATSTryTimeout = time.Second
	cfg.NATSRetryMax = 500 * time.Millisecond
	cfg.VerifyStreams = true
	return cfg
}

// submitThrough publishes task, retrying through an outage as a producer
// would; its message id makes a retry harmless.
func (e *env) submitThrough(task *messages.Task) {
	e.t.Helper()
	data, err := messages.Encode(task)
	if err != nil {
		e.t.Fatal(err)
	}
	natstest.Eventually(e.t, 30*time.Second, func() bool {
		msg := &nats.Msg{Subject: messages.NewSubjects("").Task(""), Data: data, Header: nats.Header{}}
		msg.Header.Set(jetstream.MsgIDHeader, task.ID)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := e.js.PublishMsg(ctx, msg)
		return err == nil
	}, "task %s not stored", task.ID)
}

// storedResults returns how many results JETRUN_RESULTS holds per
// subject, or nil while it cannot be asked.
func (e *env) storedResults() map[string]uint64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, messages.ResultsStream)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(messages.NewSubjects("").AllStoredResults()))
	if err != nil {
		return nil
	}
	return info.State.Subjects
}

// waitResults waits until JETRUN_RESULTS holds at least n results.
func (e *env) waitResults(n int, within time.Duration) {
	e.t.Helper()
	got := 0
	natstest.Eventually(e.t, within, func() bool {
		got = len(e.storedResults())
		return got >= n
	}, "%d stored results, want %d", got, n)
}

// checkAllSucceeded checks that each of ids has exactly one stored result,
// a success, and that no other result is stored.
func (e *env) checkAllSucceeded(ids []string) {
	e.t.Helper()
	e.waitResults(len(ids), 60*time.Second)
	subjects := e.storedResults()
	if len(subjects) != len(ids) {
		e.t.Errorf("%d stored results, want %d", len(subjects), len(ids))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := e.js.Stream(ctx, messages.ResultsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, id := range ids {
		subj := messages.NewSubjects("").StoredResult(id)
		if n := subjects[subj]; n != 1 {
			e.t.Errorf("task %s: %d stored results, want 1", id, n)
			continue
		}
		m, err := st.GetLastMsgForSubject(ctx, subj)
		if err != nil {
			e.t.Fatalf("task %s: %v", id, err)
		}
		r, err := messages.DecodeResult(m.Data)
		if err != nil {
			e.t.Fatal(err)
		}
		if r.Status != messages.ResultSuccess {
			e.t.Errorf("task %s: %s on attempt %d: %s", id, r.Status, r.Attempt, r.Error)
		}
	}
	natstest.Eventually(e.t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := e.js.Stream(ctx, messages.TasksStream)
		return err == nil && st.CachedInfo().State.Msgs == 0
	}, "tasks left in %s", messages.TasksStream)
}

// startFleet starts three workers on e, each with its own connection.
func (e *env) startFleet(cfg func(id string) Config) []*running {
	var fleet []*running
	for i := range 3 {
		fleet = append(fleet, e.start(cfg(fmt.Sprintf("w%d", i)), fake.New(fake.Options{})))
	}
	return fleet
}

// runs is how many containers the fleet ran.
func runs(fleet []*running) int64 {
	var n int64
	for _, r := range fleet {
		n += r.drv.Runs()
	}
	return n
}

// natsRetries is how many requests to JetStream the fleet retried.
func natsRetries(t *testing.T, fleet []*running) float64 {
	n := 0.0
	for _, r := range fleet {
		n += counterValue(t, r.w, "jetrun_nats_retries_total")
	}
	return n
}

// With every stream on 3 replicas, stopping the node that leads
// JETRUN_TASKS, then the one leading JETRUN_EVENTS, then the one leading
// JETRUN_RESULTS, each while tasks run, and starting them again, loses
// nothing: every task has exactly one stored result, a success.
func TestClusterNodeOutagesLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	e, c := newClusterEnv(t, 3, true)
	fleet := e.startFleet(clusterConfig)
	var ids []string
	submit := func(n int) {
		for range n {
			id := fmt.Sprintf("c-%03d", len(ids))
			ids = append(ids, id)
			e.submitThrough(task(id, "sleep", "300ms", ";", "echo", "ok"))
		}
	}
	for _, stream := range []string{messages.TasksStream, messages.EventsStream, messages.ResultsStream} {
		submit(12)
		before := runs(fleet)
		natstest.Eventually(t, 30*time.Second, func() bool { return runs(fleet) > before }, "no task started before stopping %s's leader", stream)
		leader := c.StreamLeader(stream, 30*time.Second)
		t.Logf("stopping node %d, leader of %s, while tasks run", leader, stream)
		c.Stop(leader)
		submit(4) // published while the node is away
		c.Start(leader)
		c.WaitMetaLeader(30 * time.Second)
	}
	e.checkAllSucceeded(ids)
}

// With one replica, an outage of the node holding JETRUN_RESULTS far
// longer than MaxDeliver hand-backs makes tasks wait, not fail: after it,
// every task has exactly one stored result, a success.
func TestClusterSingleReplicaOutageTasksWait(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	e, c := newClusterEnv(t, 1, true)
	cfg := func(id string) Config {
		cfg := clusterConfig(id)
		cfg.MaxDeliver = 2 // an outage of 2 × NakBaseDelay (100ms) would have spent them
		return cfg
	}
	fleet := e.startFleet(cfg)
	var ids []string
	for i := range 16 {
		id := fmt.Sprintf("r-%03d", i)
		ids = append(ids, id)
		e.submitThrough(task(id, "sleep", "200ms", ";", "echo", "ok"))
	}
	natstest.Eventually(t, 30*time.Second, func() bool { return runs(fleet) > 0 }, "no task started")
	holder := c.StreamLeader(messages.ResultsStream, 30*time.Second)
	t.Logf("stopping node %d, holding %s", holder, messages.ResultsStream)
	c.Stop(holder)
	// Tasks wait through the outage: their results can be neither looked
	// up nor stored. It lasts until the fleet has retried many times,
	// each retry at least NATSRetryInitial (100ms) after the last: far
	// longer than MaxDeliver hand-backs of NakBaseDelay (100ms) each.
	stopped := time.Now()
	natstest.Eventually(t, 30*time.Second, func() bool { return natsRetries(t, fleet) >= 40 }, "the fleet did not retry through the outage")
	t.Logf("outage of %v; %v retries", time.Since(stopped).Round(time.Millisecond), natsRetries(t, fleet))
	c.Start(holder)
	c.WaitMetaLeader(30 * time.Second)
	e.checkAllSucceeded(ids)
}

// Three workers started together against a fresh cluster, each
// provisioning 3-replica streams itself, all become ready and run tasks.
func TestClusterColdStartThreeWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	e, _ := newClusterEnv(t, 3, false)
	var fleet []*running
	for i := range 3 {
		cfg := clusterConfig(fmt.Sprintf("w%d", i))
		cfg.VerifyStreams = false
		cfg.Streams.Replicas = 3
		fleet = append(fleet, e.start(cfg, fake.New(fake.Options{})))
	}
	for i, r := range fleet {
		natstest.Eventually(t, 45*time.Second, func() bool { return r.w.Ready(context.Background()) == nil }, "worker %d not ready", i)
	}
	ids := []string{"cold-1", "cold-2", "cold-3"}
	for _, id := range ids {
		e.submitThrough(task(id, "echo", "ok"))
	}
	e.checkAllSucceeded(ids)
}
