package natstest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/jetrun/jetrun/internal/testproc"
)

// Cluster is a JetStream cluster of in-process nats-servers on loopback,
// each with a store directory of its own and routes to all the others.
// A node can be stopped and started again with its store, as a server
// that went away and came back.
type Cluster struct {
	t     testing.TB
	opts  []*server.Options
	nodes []*server.Server // nil while a node is stopped
}

// StartCluster starts an n-node cluster and waits until JetStream has a
// meta leader that every node follows. Every node is shut down when the
// test ends.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, nodes: make([]*server.Server, n)}
	routePorts := make([]int, n)
	for i := range routePorts {
		routePorts[i] = testproc.FreePort(t)
	}
	for i := range n {
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		c.opts = append(c.opts, &server.Options{
			ServerName: fmt.Sprintf("n%d", i),
			Host:       "127.0.0.1",
			Port:       testproc.FreePort(t),
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster: server.ClusterOpts{
				Name: "jetrun-test",
				Host: "127.0.0.1",
				Port: routePorts[i],
			},
			Routes: server.RoutesFromStr(strings.Join(routes, ",")),
		})
	}
	t.Cleanup(func() {
		for i := range c.nodes {
			c.Stop(i)
		}
	})
	for i := range n {
		c.Start(i)
	}
	c.WaitMetaLeader(30 * time.Second)
	return c
}

// Start starts node i (again), with its store and its ports.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	if c.nodes[i] != nil {
		return
	}
	o := *c.opts[i]
	s, err := server.NewServer(&o)
	if err != nil {
		c.t.Fatalf("node %d: %v", i, err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		c.t.Fatalf("node %d: not ready for connections within 10s", i)
	}
	c.nodes[i] = s
}

// Stop shuts node i down and waits for it; its store is kept.
func (c *Cluster) Stop(i int) {
	if s := c.nodes[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.nodes[i] = nil
	}
}

// Node returns node i, nil while it is stopped.
func (c *Cluster) Node(i int) *server.Server { return c.nodes[i] }

// URLs is every node's client URL, comma separated, stopped ones
// included: clients given it reconnect to a node that comes back.
func (c *Cluster) URLs() string {
	var urls []string
	for _, o := range c.opts {
		urls = append(urls, fmt.Sprintf("nats://%s:%d", o.Host, o.Port))
	}
	return strings.Join(urls, ",")
}

// WaitMetaLeader waits until a running node leads the JetStream meta
// group and every running node is current with it.
func (c *Cluster) WaitMetaLeader(within time.Duration) {
	c.t.Helper()
	Eventually(c.t, within, func() bool {
		leader := false
		for _, s := range c.nodes {
			if s == nil {
				continue
			}
			if !s.JetStreamIsCurrent() {
				return false
			}
			leader = leader || s.JetStreamIsLeader()
		}
		return leader
	}, "no JetStream meta leader followed by every node")
}

// StreamLeader returns the index of the running node that leads stream
// (in the global account), waiting for one within the deadline.
func (c *Cluster) StreamLeader(stream string, within time.Duration) int {
	c.t.Helper()
	found := -1
	Eventually(c.t, within, func() bool {
		for i, s := range c.nodes {
			if s != nil && s.JetStreamIsStreamLeader(server.DEFAULT_GLOBAL_ACCOUNT, stream) {
				found = i
				return true
			}
		}
		return false
	}, "stream %s has no leader", stream)
	return found
}

// StartClusterIn is StartCluster outside a test, for tools: each node's
// store is a directory under dir, a failure (a node that cannot start, no
// leader in time) panics with its message, and stop shuts every node down.
func StartClusterIn(dir string, n int) (c *Cluster, stop func()) {
	tb := &standalone{dir: dir}
	return StartCluster(tb, n), tb.cleanup
}

// standalone is the testing.TB of a Cluster outside a test. Only the
// methods below are called by this package; the embedded nil TB is never
// used.
type standalone struct {
	testing.TB
	dir      string
	mu       sync.Mutex
	dirs     int
	cleanups []func()
}

func (s *standalone) Helper() {}

func (s *standalone) Fatal(args ...any) { panic(fmt.Sprint(args...)) }

func (s *standalone) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

func (s *standalone) TempDir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dirs++
	d := filepath.Join(s.dir, fmt.Sprintf("node%d", s.dirs-1))
	if err := os.MkdirAll(d, 0o755); err != nil {
		panic(err)
	}
	return d
}

func (s *standalone) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

// cleanup runs the cleanups, last registered first, as a test would.
func (s *standalone) cleanup() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}
