package deploy_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
	"github.com/jetrun/jetrun/worker"
)

// clusterConfPath is the node config of docker-compose.cluster.yml.
const clusterConfPath = "../nats-cluster.conf"

// TestClusterConf loads nats-cluster.conf with nats-server's parser for
// three nodes, checks that each keeps nats.conf's users and durability
// and gets its own name and the three routes, then starts the three in
// process (ports moved to loopback, stores to temporary directories,
// routes to those ports) and provisions 3-replica streams on them as
// admin, which a verifying worker of the worker user then accepts.
func TestClusterConf(t *testing.T) {
	passwords := map[string]string{}
	for _, user := range []string{"submitter", "worker", "admin"} {
		pw := "jr" + randomHex(t)
		t.Setenv("JETRUN_"+strings.ToUpper(user)+"_PASSWORD", pw)
		passwords[user] = pw
	}
	routePorts := []int{testproc.FreePort(t), testproc.FreePort(t), testproc.FreePort(t)}
	var nodes []*server.Server
	for i := range 3 {
		name := fmt.Sprintf("nats-%d", i+1)
		t.Setenv("NATS_SERVER_NAME", name)
		opts, err := server.ProcessConfigFile(clusterConfPath)
		if err != nil {
			t.Fatalf("load %s: %v", clusterConfPath, err)
		}
		switch {
		case opts.ServerName != name:
			t.Fatalf("server_name %q, want %q from NATS_SERVER_NAME", opts.ServerName, name)
		case opts.Cluster.Name != "jetrun" || opts.Cluster.Port != 6222 || len(opts.Routes) != 3:
			t.Fatalf("cluster %+v with %d routes, want jetrun on 6222 with 3", opts.Cluster, len(opts.Routes))
		case !opts.SyncAlways:
			t.Fatal("sync_interval is not always")
		case len(opts.Users) != 3:
			t.Fatalf("%d users, want nats.conf's 3", len(opts.Users))
		}
		var routes []string
		for j, p := range routePorts {
			if j != i {
				routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
			}
		}
		opts.Host, opts.Port = "127.0.0.1", -1
		opts.HTTPHost, opts.HTTPPort = "", 0
		opts.Cluster.Host, opts.Cluster.Port = "127.0.0.1", routePorts[i]
		opts.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		opts.StoreDir = t.TempDir()
		nodes = append(nodes, natstest.StartWith(t, opts))
	}
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.ClientURL())
	}
	connect := func(user, inbox string) jetstream.JetStream {
		nc, err := nats.Connect(strings.Join(urls, ","), nats.UserInfo(user, passwords[user]), nats.CustomInboxPrefix(inbox))
		if err != nil {
			t.Fatalf("connect as %s: %v", user, err)
		}
		t.Cleanup(nc.Close)
		js, err := jetstream.New(nc)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
	admin, wjs := connect("admin", "_INBOX"), connect("worker", "_INBOX_worker")
	cfg := worker.Config{Streams: worker.StreamConfig{Replicas: 3}}
	natstest.Eventually(t, 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return worker.Provision(ctx, admin, cfg, nil) == nil
	}, "admin could not provision 3-replica streams on the cluster")
	for _, name := range worker.StreamNames() {
		st, err := wjs.Stream(t.Context(), name)
		if err != nil {
			t.Fatalf("worker: stream %s: %v", name, err)
		}
		if c := st.CachedInfo().Config; c.Replicas != 3 {
			t.Errorf("stream %s has %d replicas, want 3", name, c.Replicas)
		}
	}
}

// TestClusterCompose checks docker-compose.cluster.yml against the node
// config: three NATS nodes named as the routes say, each with its own
// store, the shared nats-cluster.conf and nats.conf, and provisioning at
// 3 replicas before the workers start.
func TestClusterCompose(t *testing.T) {
	data, err := os.ReadFile("../docker-compose.cluster.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Hostname    string            `yaml:"hostname"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
			DependsOn   map[string]any    `yaml:"depends_on"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	stores := map[string]bool{}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("nats-%d", i)
		s, ok := f.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Hostname != name || s.Environment["NATS_SERVER_NAME"] != name {
			t.Errorf("%s: hostname %q, NATS_SERVER_NAME %q; want both %q (the routes name it)", name, s.Hostname, s.Environment["NATS_SERVER_NAME"], name)
		}
		vols := strings.Join(s.Volumes, " ")
		if !strings.Contains(vols, "./nats-cluster.conf:") || !strings.Contains(vols, "./nats.conf:") {
			t.Errorf("%s mounts %q; want nats-cluster.conf and nats.conf", name, vols)
		}
		for _, v := range s.Volumes {
			if strings.HasSuffix(v, ":/data") {
				stores[v] = true
			}
		}
	}
	if len(stores) != 3 {
		t.Errorf("stores %v; want one volume on /data per node", stores)
	}
	p := f.Services["provision"]
	if p.Environment["JETRUN_REPLICAS"] != "3" {
		t.Errorf("provision: JETRUN_REPLICAS %q, want 3", p.Environment["JETRUN_REPLICAS"])
	}
	w := f.Services["worker"]
	if w.Environment["JETRUN_REPLICAS"] != "3" || !strings.Contains(w.Environment["JETRUN_NATS"], "nats-3:4222") {
		t.Errorf("worker: JETRUN_REPLICAS %q, JETRUN_NATS %q; want 3 and every node", w.Environment["JETRUN_REPLICAS"], w.Environment["JETRUN_NATS"])
	}
	if _, ok := w.DependsOn["provision"]; !ok {
		t.Error("worker does not wait for provision")
	}
}
