package fake_test

import (
	"testing"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/driver/drivertest"
	"github.com/jetrun/jetrun/driver/fake"
)

func TestConformance(t *testing.T) {
	d := fake.New(fake.Options{WorkerID: "drivertest"})
	d.MarkMissing("jetrun-missing:never")
	drivertest.Run(t, drivertest.Harness{
		Driver:       d,
		Image:        "jetrun-testee:fake",
		MissingImage: "jetrun-missing:never",
		Labels:       func(t *testing.T, c driver.Cookie) map[string]string { return d.Labels(c) },
		Containers:   func(t *testing.T, id string) int { return d.Containers(id) },
	})
}
