package worker

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the worker's Prometheus series, in a registry of its own.
type metrics struct {
	reg            *prometheus.Registry
	tasks          *prometheus.CounterVec
	running        prometheus.Gauge
	duration       *prometheus.HistogramVec
	prepareRetries prometheus.Counter
	pull           prometheus.Histogram
	redeliveries   prometheus.Counter
	natsRetries    prometheus.Counter
	requeued       *prometheus.CounterVec
	terminated     *prometheus.CounterVec
	logBytes       prometheus.Counter
	logDropped     prometheus.Counter
	slots          prometheus.Gauge
	deadLetters    prometheus.Counter
	dead           *deadCollector
	artifactBytes  prometheus.Gauge
}

func newMetrics(concurrency int) *metrics {
	reg := prometheus.NewRegistry()
	m := &metrics{
		reg: reg,
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetrun_tasks_total", Help: "Tasks that ended with a Result, by status.",
		}, []string{"status"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetrun_tasks_running", Help: "Tasks this worker holds (preparing or running).",
		}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jetrun_task_duration_seconds", Help: "Run time of containers, by final status.",
			Buckets: prometheus.ExponentialBuckets(0.05, 3, 12),
		}, []string{"status"}),
		prepareRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_prepare_retries_total", Help: "Prepare calls retried after a transient error.",
		}),
		pull: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "jetrun_image_pull_seconds", Help: "Time spent downloading images.",
			Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
		}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_redeliveries_total", Help: "Tasks received on a delivery after the first.",
		}),
		natsRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_nats_retries_total", Help: "Requests to JetStream on a task's way retried after a failed try (an outage).",
		}),
		requeued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetrun_tasks_requeued_total", Help: "Tasks handed back (Nak) for a later or other worker, by reason.",
		}, []string{"reason"}),
		terminated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jetrun_tasks_terminated_total", Help: "Task messages terminated without running, by reason.",
		}, []string{"reason"}),
		logBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_log_bytes_total", Help: "Task output bytes published.",
		}),
		logDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "jetrun_log_dropped_bytes_total", Help: "Task output bytes dropped over the per-task cap.",
		}),
		slots: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetrun_worker_slots", Help: "Concurrency: the most tasks this worker runs at once.",
		}),
		artifactBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "jetrun_artifacts_bucket_bytes", Help: "Size of the JETRUN_ARTIFACTS object store, as of this worker's last artifact transfer.",
		}),
	}
	m.deadLetters = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "jetrun_dead_letters_written_total", Help: "Dead letters this worker stored in JETRUN_DEAD.",
	})
	m.dead = newDeadCollector()
	m.slots.Set(float64(concurrency))
	reg.MustRegister(m.deadLetters, m.dead)
	reg.MustRegister(m.tasks, m.running, m.duration, m.prepareRetries, m.pull, m.redeliveries, m.natsRetries,
		m.requeued, m.terminated, m.logBytes, m.logDropped, m.slots, m.artifactBytes,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
