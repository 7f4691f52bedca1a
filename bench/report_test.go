package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.only) != len(allBenchmarks) || c.pipelineTasks != 20000 || c.latencySamples < 20 || c.throughputConc != 4 || c.logsMiB != 100 || c.memoryTasks != 16 {
		t.Errorf("defaults do not match issue 6: %+v", c)
	}
	for _, bad := range [][]string{{"-repeats", "0"}, {"-only", "foo"}, {"-logs-mib", "5000"}, {"-timeout", "0s"}, {"extra"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
}

// The harness rewrites only its own section of the report and keeps the
// hand-written analysis around it.
func TestWriteReport(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.md")
	if err := writeReport(path, beginMarker+"\none\n"+endMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, "\n## Analysis\nkept\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, beginMarker+"\ntwo\n"+endMarker+"\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	got := string(b)
	if !strings.Contains(got, "two") || strings.Contains(got, "one") || !strings.Contains(got, "## Analysis\nkept") || !strings.HasPrefix(got, "# Benchmarks") {
		t.Errorf("report after two writes:\n%s", got)
	}
}
