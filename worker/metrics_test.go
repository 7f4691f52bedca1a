package worker

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

func jetstreamSubjectFilter(f string) jetstream.StreamInfoOpt { return jetstream.WithSubjectFilter(f) }

// counterValue reads a counter (summed over labels) from the worker's
// registry.
func counterValue(t *testing.T, w *Worker, name string) float64 {
	t.Helper()
	mfs, err := w.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}
