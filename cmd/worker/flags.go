package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/natsconn"
	"github.com/jetrun/jetrun/messages"
	"github.com/jetrun/jetrun/worker"
)

// options are the parsed flags.
type options struct {
	natsURL        string
	embeddedListen string
	dataDir        string
	creds          string
	nkey           string
	tlsCert        string
	tlsKey         string
	tlsCA          string
	inboxPrefix    string
	metricsAddr    string
	logFormat      string
	logLevel       string
	provision      bool
	cfg            worker.Config // the worker, with its admission policy
	runtime        driver.Config // how the Docker driver runs containers
}

// defaultInboxPrefix is nats.go's own reply subject prefix (nats.InboxPrefix
// without its dot), so a worker given no --inbox-prefix behaves as any
// client does.
const defaultInboxPrefix = "_INBOX"

// envName maps a flag name to its environment variable: max-memory ->
// JETRUN_MAX_MEMORY.
func envName(flagName string) string {
	return "JETRUN_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// listFlag is a comma-separated list.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	*l.v = nil
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// memFlag is a size with a unit ("512M", "4G").
type memFlag struct{ v *driver.Memory }

func (m memFlag) String() string {
	if m.v == nil || *m.v == 0 {
		return ""
	}
	return m.v.String()
}

func (m memFlag) Set(s string) error { return m.v.UnmarshalText([]byte(s)) }

// sizeFlag is a size in bytes with units, like memFlag, into an int64.
type sizeFlag struct{ v *int64 }

func (f sizeFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return ""
	}
	return driver.Memory(*f.v).String()
}

func (f sizeFlag) Set(s string) error {
	var m driver.Memory
	if err := m.UnmarshalText([]byte(s)); err != nil {
		return err
	}
	if m > 1<<62 {
		return fmt.Errorf("%s is too large", s)
	}
	*f.v = int64(m)
	return nil
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return d + "/jetrun"
	}
	if h, err := os.UserHomeDir(); err == nil {
		return h + "/.local/state/jetrun"
	}
	return "jetrun-data"
}

// parseFlags reads args, with JETRUN_* environment variables as defaults
// that flags override.
func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	c := &o.cfg
	host, _ := os.Hostname()
	fs := flag.NewFlagSet("worker", flag.ContinueOnError)
	fs.SetOutput(stderr)

	fs.BoolVar(&o.provision, "provision", false, "create or update the JetStream streams on the --nats server and exit; needs the rights to change streams (the admin user of nats.conf). Without it, a worker with --nats only checks the streams and refuses to start when they are missing or unsafe")
	fs.StringVar(&o.natsURL, "nats", "", "NATS server URL(s), comma separated; empty starts an embedded JetStream server in this process")
	fs.StringVar(&o.embeddedListen, "embedded-listen", "127.0.0.1:4222", "host:port the embedded NATS server listens on (port 0: a random port)")
	fs.StringVar(&o.dataDir, "data-dir", defaultDataDir(), "directory of the embedded server's JetStream state")
	fs.StringVar(&o.creds, "creds", "", "NATS credentials file (JWT and nkey seed)")
	fs.StringVar(&o.nkey, "nkey", "", "NATS nkey seed file")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "client certificate file for NATS TLS (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "client key file for NATS TLS")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA file to verify the NATS server's certificate")
	fs.StringVar(&o.inboxPrefix, "inbox-prefix", defaultInboxPrefix, "prefix of this worker's reply subjects on an external server (tasks are delivered there); nats.conf allows the worker user only _INBOX_worker")
	fs.StringVar(&c.Prefix, "prefix", messages.DefaultPrefix, "subject prefix P of all jetrun subjects")
	fs.StringVar(&c.Queue, "queue", messages.DefaultQueue, "queue to consume: tasks published to P.tasks.<queue>")
	fs.IntVar(&c.Concurrency, "concurrency", runtime.NumCPU(), "most tasks run (and held unacked) at once")
	fs.StringVar(&c.WorkerID, "worker-id", host, "this worker's id in events and container labels; must be unique in the fleet")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "127.0.0.1:9090", "address serving /metrics, /healthz and /readyz; empty disables")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", worker.DefaultDrainTimeout, "on SIGTERM, how long running tasks may finish before they are handed back")
	fs.DurationVar(&c.AckWait, "ack-wait", worker.DefaultAckWait, "lease of a delivered task, kept alive by heartbeats (consumer setting, shared by the fleet)")
	fs.IntVar(&c.MaxDeliver, "max-deliver", worker.DefaultMaxDeliver, "runs of a task at most (a run: its container prepared); the last one always ends in a result. Deliveries that ran nothing, such as during a NATS outage, do not count")
	fs.IntVar(&c.Streams.Replicas, "replicas", 1, "replicas of the JetStream streams (1 to 5; more than 1 needs a NATS cluster). --provision creates them so, keeping more where an operator set more; a worker with --nats refuses streams with fewer. The consumer has its stream's")
	fs.DurationVar(&c.Streams.IndexMaxAge, "index-max-age", 0, "how long JETRUN_INDEX lists a finished task (default 168h); set at --provision")
	fs.Var(sizeFlag{&c.Streams.IndexMaxBytes}, "index-max-bytes", "size of JETRUN_INDEX, the oldest records dropped first (default 256MiB); set at --provision")
	fs.DurationVar(&c.Streams.DeadMaxAge, "dead-max-age", 0, "how long JETRUN_DEAD keeps a dead letter (default 168h); set at --provision")
	fs.Var(sizeFlag{&c.Streams.DeadMaxBytes}, "dead-max-bytes", "size of JETRUN_DEAD, the oldest dead letters dropped first and counted in jetrun_dead_letters_dropped_total (default 128MiB); set at --provision")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	p := &c.Policy
	fs.Var(memFlag{&p.MaxMemory}, "max-memory", "most memory a task may ask for, e.g. 4G (default 4GiB)")
	fs.Var(memFlag{&p.DefaultMemory}, "default-memory", "memory of a task that asks for none, e.g. 256M (default 256MiB)")
	fs.Uint64Var(&p.DefaultCPUs, "default-cpus", worker.DefaultCPUs, "milli-CPUs of a task that asks for none (1000 = one CPU)")
	fs.DurationVar(&p.MaxTimeout, "max-timeout", worker.DefaultMaxTaskTimeout, "longest timeout a task may ask for")
	fs.DurationVar(&p.DefaultTimeout, "default-timeout", worker.DefaultTaskTimeout, "timeout of a task that asks for none")
	fs.Var(listFlag{&p.Allow.Images}, "allowed-images", "comma-separated patterns images must match after normalisation, e.g. 'docker.io/library/*' (default: any)")
	fs.Var(sizeFlag{&p.MaxInputBytes}, "max-input", "most bytes of artifacts placed in one task's container (inputs and stdin object), e.g. 1G (default 1GiB)")
	fs.Var(sizeFlag{&p.MaxOutputBytes}, "max-output", "most bytes of artifacts collected from one task's outputs; more is reported over the cap (default 1GiB)")
	fs.DurationVar(&c.Streams.ArtifactsTTL, "artifacts-ttl", 7*24*time.Hour, "how long the JETRUN_ARTIFACTS bucket keeps an object (set by --provision and the embedded server)")
	fs.Var(sizeFlag{&c.Streams.ArtifactsMaxBytes}, "artifacts-max-bytes", "size of the JETRUN_ARTIFACTS bucket; uploads are refused when it is full (default 1GiB)")
	fs.Var(listFlag{&p.Allow.VolumeRoots}, "allowed-volume-roots", "comma-separated host directories tasks may mount from (default: none, volumes refused)")
	rt := &o.runtime
	fs.StringVar(&rt.NetworkMode, "network", driver.DefaultNetworkMode, "container network mode")
	fs.BoolVar(&rt.ReadOnlyRootfs, "read-only-rootfs", false, "mount the image read-only, with a tmpfs /tmp")
	fs.Var(memFlag{&rt.TmpfsSize}, "tmpfs-size", "size of the tmpfs /tmp of a read-only root, e.g. 64M (default 64MiB)")
	fs.StringVar(&rt.User, "user", driver.DefaultUser, "run containers as this user (uid[:gid] or a name the image defines); 'image': the image's own user, often root")
	fs.StringVar(&rt.CgroupNamespace, "cgroupns", driver.DefaultCgroupNamespace, "cgroup namespace of containers: private or host")
	fs.Var(memFlag{&rt.DiskLimit}, "disk-limit", "most a container may write to its writable layer, e.g. 1G; needs overlay2 on xfs with pquota, btrfs, zfs or devicemapper (default: unbounded)")
	fs.Int64Var(&rt.PidsLimit, "pids-limit", driver.DefaultPidsLimit, "most processes per container")
	fs.StringVar(&rt.DockerHost, "docker-host", "", "Docker daemon address; empty: DOCKER_HOST or the local socket")
	fs.DurationVar(&c.PrepareMaxElapsed, "prepare-retry", worker.DefaultPrepareRetry, "how long a task's image pull (or another transient prepare error) is retried in one delivery; an image still unavailable then fails the task")
	fs.Int64Var(&c.LogCap, "log-cap", worker.DefaultLogCap, "most output bytes published per task attempt; the rest is counted as dropped")

	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: worker [flags]

Runs jetrun tasks from NATS JetStream in Docker containers (no network, all
capabilities dropped, memory/CPU/pids limits). With no --nats it starts an
embedded JetStream server. Every flag can also be set by the environment
variable shown, e.g. --max-memory as JETRUN_MAX_MEMORY; flags win.

Flags:
`)
		fs.VisitAll(func(f *flag.Flag) {
			def := ""
			if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
				def = fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(fs.Output(), "  --%s  [%s]\n      %s%s\n", f.Name, envName(f.Name), f.Usage, def)
		})
	}

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			}
		}
	})
	if envErr != nil {
		return nil, usageError{envErr}
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if o.logFormat != "text" && o.logFormat != "json" {
		return nil, usageError{fmt.Errorf("--log-format %q: want text or json", o.logFormat)}
	}
	if err := checkInboxPrefix(o.inboxPrefix); err != nil {
		return nil, usageError{err}
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return nil, usageError{fmt.Errorf("--tls-cert and --tls-key go together")}
	}
	if o.provision && o.natsURL == "" {
		return nil, usageError{fmt.Errorf("--provision needs --nats: a worker with the embedded server provisions its own streams")}
	}
	if c.WorkerID == "" {
		return nil, usageError{fmt.Errorf("--worker-id is required (the host name is unknown)")}
	}
	if r := c.Streams.Replicas; r < 1 || r > 5 {
		return nil, usageError{fmt.Errorf("--replicas %d: want 1 to 5", r)}
	}
	return o, nil
}

// checkInboxPrefix refuses what nats.CustomInboxPrefix would refuse at
// connect time (empty, a wildcard, a trailing dot), as a flag error.
func checkInboxPrefix(p string) error {
	if err := natsconn.ValidInboxPrefix(p); err != nil {
		return fmt.Errorf("--inbox-prefix %w", err)
	}
	return nil
}
