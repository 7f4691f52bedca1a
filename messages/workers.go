package messages

import "time"

// WorkersBucket is the JetStream key-value bucket (stream KV_JETRUN_WORKERS)
// of live workers: one key per worker id, refreshed while the worker runs
// and expiring WorkerLeaseTTL after its last refresh. A worker starts only
// when no other live worker holds its id.
const WorkersBucket = "JETRUN_WORKERS"

// WorkerLeaseTTL is how long a worker's entry outlives its last refresh
// by default (the bucket's TTL); workers refresh it every third of it.
const WorkerLeaseTTL = 15 * time.Second

// WorkerInfo is the value of a worker's key in WorkersBucket.
type WorkerInfo struct {
	// ID is the worker id (also the key).
	ID string `msgpack:"id"`
	// Instance is random per worker process, so that a restarted process
	// is told from the one before it.
	Instance string `msgpack:"instance"`
	// Host and PID say where the worker runs.
	Host string `msgpack:"host,omitempty"`
	PID  int    `msgpack:"pid,omitempty"`
	// Queue is the queue it consumes; Concurrency its slots.
	Queue       string `msgpack:"queue"`
	Concurrency int    `msgpack:"concurrency,omitempty"`
	// Started is when the worker took the id.
	Started time.Time `msgpack:"started"`
	// Version is the worker's build (its Go module version).
	Version string `msgpack:"version,omitempty"`
	// Running are the ids of the tasks it holds, as of the entry's write.
	Running []string `msgpack:"running,omitempty"`
}

// DecodeWorkerInfo decodes a WorkerInfo.
func DecodeWorkerInfo(data []byte) (*WorkerInfo, error) {
	var w WorkerInfo
	if err := decode("worker", data, &w); err != nil {
		return nil, err
	}
	w.Started = w.Started.UTC()
	return &w, nil
}
