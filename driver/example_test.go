package driver_test

import (
	"fmt"
	"time"

	"github.com/jetrun/jetrun/driver"
)

func ExampleParseImage() {
	fmt.Println(driver.ParseImage("busybox"))
	fmt.Println(driver.ParseImage("quay.com:8080/fnproject/fn-test-utils:v2"))
	fmt.Println(driver.ParseImage("localhost:5000/foo"))
	// Output:
	// docker.io library/busybox latest
	// quay.com:8080 fnproject/fn-test-utils v2
	// localhost:5000 foo latest
}

// A run sampled every second for eight minutes is reduced to 240 points,
// each the average of two samples.
func ExampleDecimate() {
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	stats := make([]driver.Stat, 480)
	for i := range stats {
		stats[i] = driver.Stat{
			Timestamp: start.Add(time.Duration(i) * time.Second),
			Metrics:   map[string]uint64{driver.MetricMemUsage: uint64(i) * 1000},
		}
	}
	stats = driver.Decimate(240, stats)
	fmt.Println(len(stats), stats[1].Timestamp.Sub(start), stats[1].Metrics[driver.MetricMemUsage])
	// Output:
	// 240 2.5s 2500
}

func ExampleMemory_UnmarshalText() {
	var m driver.Memory
	for _, s := range []string{"128M", "1.5G", "512KiB", "1048576", "lots"} {
		if err := m.UnmarshalText([]byte(s)); err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(uint64(m), m)
	}
	// Output:
	// 134217728 128MiB
	// 1610612736 1.5GiB
	// 524288 512KiB
	// 1048576 1MiB
	// memory: "lots" is not a size (want e.g. 128M, 1.5G, 512KiB): invalid size: 'lots'
}
