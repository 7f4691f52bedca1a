package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jetrun/jetrun/internal/natstest"
	"github.com/jetrun/jetrun/internal/testproc"
)

// TestArtifacts runs the real binaries: a 50 MiB file uploaded, copied and
// hashed inside the container, both downloaded and checked byte for byte;
// a directory of 1,000 small files out; a missing output; an output over
// the worker's cap; and a task cancelled mid-run that still returns what
// its output held.
func TestArtifacts(t *testing.T) {
	e := startWorkerAt(t, testproc.FreePort(t), t.TempDir(), "--max-output", "64M")
	dir := t.TempDir()

	t.Run("files in and out", func(t *testing.T) {
		t.Parallel()
		big := make([]byte, 50<<20)
		rand.Read(big)
		local := filepath.Join(dir, "big.bin")
		if err := os.WriteFile(local, big, 0o644); err != nil {
			t.Fatal(err)
		}
		dest := filepath.Join(dir, "out1")
		r := e.run(t, "", "run", "--memory", "512M", "--upload", local,
			"--output", "copy.bin", "--output", "sum.txt", "--output", "many", "--output", "nope", "--dest", dest,
			e.image, "--", "copy", "/jetrun/in/big.bin", "/jetrun/out/copy.bin", ";",
			"sha256", "/jetrun/in/big.bin", "/jetrun/out/sum.txt", ";", "mkfiles", "/jetrun/out/many", "1000")
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		got, err := os.ReadFile(filepath.Join(dest, "copy.bin"))
		if err != nil || !bytes.Equal(got, big) {
			t.Errorf("downloaded copy: %d bytes (%v); want the 50 MiB uploaded, byte for byte", len(got), err)
		}
		sum := sha256.Sum256(big)
		if got, err := os.ReadFile(filepath.Join(dest, "sum.txt")); err != nil || string(got) != hex.EncodeToString(sum[:])+"\n" {
			t.Errorf("hash computed in the container = %q (%v); want %x", got, err, sum)
		}
		many, err := os.ReadDir(filepath.Join(dest, "many"))
		if err != nil || len(many) != 1000 {
			t.Fatalf("downloaded directory: %d entries (%v); want 1000", len(many), err)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, "many", "f999")); string(got) != "file 999\n" {
			t.Errorf("many/f999 holds %q", got)
		}
		if !strings.Contains(r.stderr, "output /jetrun/out/nope: missing") {
			t.Errorf("stderr does not say the missing output is missing: %q", r.stderr)
		}
	})

	t.Run("over the cap", func(t *testing.T) {
		t.Parallel()
		r := e.run(t, "", "run", "--memory", "512M", "--output", "big", "--output", "small", "--dest", filepath.Join(dir, "out2"),
			e.image, "--", "writemib", "/jetrun/out/big", "70", ";", "writefile", "/jetrun/out/small", "kept")
		if r.code != 0 || !strings.Contains(r.stderr, "output /jetrun/out/big: not kept: over the worker's limit of 64MiB") {
			t.Errorf("exit %d, stderr %q; want 0 and the output over the 64MiB cap reported", r.code, r.stderr)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "out2", "small")); string(got) != "kept" {
			t.Errorf("the output under the cap holds %q", got)
		}
		if _, err := os.Stat(filepath.Join(dir, "out2", "big")); err == nil {
			t.Error("the output over the cap was downloaded")
		}
	})

	t.Run("cancelled mid-run", func(t *testing.T) {
		t.Parallel()
		id := "e2e-art-cancel-" + strings.ToLower(rand.Text()[:8])
		r := e.run(t, "", "run", "--detach", "--id", id, "--output", "partial", e.image, "--",
			"writefile", "/jetrun/out/partial", "half done", ";", "sleep", "1h")
		if r.code != 0 {
			t.Fatalf("detach: exit %d %s", r.code, r.stderr)
		}
		natstest.Eventually(t, time.Minute, func() bool {
			return strings.Contains(e.run(t, "", "status", id).stdout, "running")
		}, "the task never ran")
		if r := e.run(t, "", "cancel", id); r.code != 0 {
			t.Fatalf("cancel: exit %d %s", r.code, r.stderr)
		}
		dest := filepath.Join(dir, "out3")
		natstest.Eventually(t, time.Minute, func() bool {
			return e.run(t, "", "artifacts", id, "--dest", dest).code == 0
		}, "no outputs for the cancelled task")
		if got, err := os.ReadFile(filepath.Join(dest, "partial")); err != nil || string(got) != "half done" {
			t.Errorf("the cancelled task's output holds %q (%v)", got, err)
		}
		list := e.run(t, "", "artifacts", id, "--list")
		if !strings.Contains(list.stdout, "/jetrun/out/partial\tstored\tfile\t9\t") {
			t.Errorf("list = %q", list.stdout)
		}
	})
}
