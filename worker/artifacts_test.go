package worker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver/fake"
	"github.com/jetrun/jetrun/messages"
)

func (e *env) objects() jetstream.ObjectStore {
	e.t.Helper()
	obs, err := e.js.ObjectStore(context.Background(), messages.ArtifactsBucket)
	if err != nil {
		e.t.Fatal(err)
	}
	return obs
}

func (e *env) putObject(name string, data []byte) string {
	e.t.Helper()
	if _, err := e.objects().PutBytes(context.Background(), name, data); err != nil {
		e.t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func (e *env) getObject(name string) []byte {
	e.t.Helper()
	data, err := e.objects().GetBytes(context.Background(), name)
	if err != nil {
		e.t.Fatalf("get object %s: %v", name, err)
	}
	return data
}

// TestArtifactsRoundTrip: a file and a directory placed before the task
// runs, read by it, and what it wrote collected, hashed and listed in
// its result, with a missing output listed as missing.
func TestArtifactsRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w-art"), fake.New(fake.Options{}))
	sum := e.putObject("art-1/in/data", []byte("input bytes\n"))
	var tree bytes.Buffer
	tw := tar.NewWriter(&tree)
	_ = tw.WriteHeader(&tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755})
	_ = tw.WriteHeader(&tar.Header{Name: "sub/f", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	_, _ = tw.Write([]byte("f\n"))
	_ = tw.Close()
	e.putObject("art-1/in/tree", tree.Bytes())

	tk := task("art-1", "readfile", "/jetrun/in/tree/sub/f", ";", "copy", "/data/in.txt", "/jetrun/out/copy", ";",
		"mkfiles", "/jetrun/out/many", "3", ";", "symlink", "/etc", "/jetrun/out/link")
	tk.Inputs = []messages.Input{
		{Path: "/data/in.txt", Object: "art-1/in/data", SHA256: sum},
		{Path: "/jetrun/in/tree", Object: "art-1/in/tree", Kind: messages.KindDir},
	}
	tk.Outputs = []string{"/jetrun/out/copy", "/jetrun/out/many", "/jetrun/out/link", "/jetrun/out/nope"}
	e.submit(tk)
	r := e.result("art-1", 10*time.Second)
	if r.Status != messages.ResultSuccess {
		t.Fatalf("result %s: %s", r.Status, r.Error)
	}
	if len(r.Artifacts) != 4 {
		t.Fatalf("artifacts = %+v; want 4", r.Artifacts)
	}
	a := r.Artifacts[0]
	if a.State != messages.ArtifactStored || a.Kind != messages.KindFile || a.Size != 12 || a.SHA256 != sum || a.Object != "art-1/out/0" {
		t.Errorf("copied file = %+v; want stored file of 12 bytes with the input's SHA-256 as art-1/out/0", a)
	}
	if got := e.getObject(a.Object); string(got) != "input bytes\n" {
		t.Errorf("copied file holds %q", got)
	}
	d := r.Artifacts[1]
	if d.State != messages.ArtifactStored || d.Kind != messages.KindDir {
		t.Fatalf("directory = %+v", d)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(e.getObject(d.Object)))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if strings.Join(names, " ") != "./ f0 f1 f2" {
		t.Errorf("directory archive holds %q; want ./ f0 f1 f2", names)
	}
	if l := r.Artifacts[2]; l.State != messages.ArtifactStored || l.Kind != messages.KindLink || l.Link != "/etc" || l.Object != "" {
		t.Errorf("link = %+v; want a stored link to /etc without an object", l)
	}
	if m := r.Artifacts[3]; m.State != messages.ArtifactMissing || m.Path != "/jetrun/out/nope" {
		t.Errorf("missing output = %+v", m)
	}
}

// TestArtifactsMissingInput: an input object that was never uploaded
// fails the task, saying which, before any container is prepared.
func TestArtifactsMissingInput(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	e.start(testConfig("w-art"), drv)
	tk := task("art-missing", "true")
	tk.Inputs = []messages.Input{{Path: "/jetrun/in/x", Object: "art-missing/in/x"}}
	e.submit(tk)
	r := e.result("art-missing", 10*time.Second)
	if r.Status != messages.ResultError || !strings.Contains(r.Error, `inputs[0]: object "art-missing/in/x" not found`) {
		t.Errorf("result %s %q; want an error naming the missing object", r.Status, r.Error)
	}
	if drv.Prepares() != 0 {
		t.Errorf("%d prepares; want none", drv.Prepares())
	}
}

// TestArtifactsCorruptedInput: an object whose content does not match
// its digest fails the task before it runs.
func TestArtifactsCorruptedInput(t *testing.T) {
	e := newEnv(t)
	drv := fake.New(fake.Options{})
	e.start(testConfig("w-art"), drv)
	e.putObject("art-bad/in/x", []byte("good content"))
	// Rewrite the object's meta with the digest of other bytes.
	info, err := e.objects().GetInfo(context.Background(), "art-bad/in/x")
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("other content"))
	info.Digest = "SHA-256=" + base64.URLEncoding.EncodeToString(other[:])
	meta, _ := json.Marshal(info)
	m := nats.NewMsg("$O." + messages.ArtifactsBucket + ".M." + base64.URLEncoding.EncodeToString([]byte("art-bad/in/x")))
	m.Header.Set("Nats-Rollup", "sub")
	m.Data = meta
	if _, err := e.js.PublishMsg(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	tk := task("art-bad", "readfile", "/jetrun/in/x")
	tk.Inputs = []messages.Input{{Path: "/jetrun/in/x", Object: "art-bad/in/x"}}
	e.submit(tk)
	r := e.result("art-bad", 10*time.Second)
	if r.Status != messages.ResultError || !strings.Contains(r.Error, "corrupted") || r.LogBytes != 0 {
		t.Errorf("result %s %q (%d log bytes); want an error saying corrupted, and no run", r.Status, r.Error, r.LogBytes)
	}
	if drv.Runs() != 0 {
		t.Errorf("%d runs; want none", drv.Runs())
	}
}

// TestArtifactsOverCap: an output over the worker's limit is listed with
// the limit, nothing of it stored; the others still are.
func TestArtifactsOverCap(t *testing.T) {
	e := newEnv(t)
	cfg := testConfig("w-art")
	cfg.Policy.MaxOutputBytes = 1 << 20
	e.start(cfg, fake.New(fake.Options{}))
	tk := task("art-cap", "writemib", "/jetrun/out/big", "2", ";", "writefile", "/jetrun/out/small", "ok", ";", "mkfiles", "/jetrun/out/d", "2000")
	tk.Outputs = []string{"/jetrun/out/big", "/jetrun/out/small", "/jetrun/out/d"}
	e.submit(tk)
	r := e.result("art-cap", 10*time.Second)
	if r.Status != messages.ResultSuccess || len(r.Artifacts) != 3 {
		t.Fatalf("result %s %q, artifacts %+v", r.Status, r.Error, r.Artifacts)
	}
	if a := r.Artifacts[0]; a.State != messages.ArtifactOverCap || a.Cap != 1<<20 || a.Object != "" {
		t.Errorf("big output = %+v; want over the cap of 1 MiB, no object", a)
	}
	if a := r.Artifacts[1]; a.State != messages.ArtifactStored || string(e.getObject(a.Object)) != "ok" {
		t.Errorf("small output = %+v", a)
	}
	if a := r.Artifacts[2]; a.State != messages.ArtifactOverCap {
		t.Errorf("a directory whose archive passes the cap = %+v; want over the cap", a)
	}
	if _, err := e.objects().GetInfo(context.Background(), "art-cap/out/0"); err == nil {
		t.Error("an object was stored for the output over the cap")
	}
}

// TestArtifactsCancelled: a task cancelled mid-run still returns what its
// outputs held.
func TestArtifactsCancelled(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w-art"), fake.New(fake.Options{}))
	tk := task("art-cancel", "writefile", "/jetrun/out/partial", "half", ";", "sleep", "1h")
	tk.Outputs = []string{"/jetrun/out/partial"}
	e.submit(tk)
	e.waitState("art-cancel", messages.StateRunning, 10*time.Second)
	e.cancelTask("art-cancel", "enough")
	r := e.result("art-cancel", 10*time.Second)
	if r.Status != messages.ResultCancelled || len(r.Artifacts) != 1 || r.Artifacts[0].State != messages.ArtifactStored {
		t.Fatalf("result %s %q, artifacts %+v; want cancelled with the output stored", r.Status, r.Error, r.Artifacts)
	}
	if got := e.getObject(r.Artifacts[0].Object); string(got) != "half" {
		t.Errorf("output holds %q", got)
	}
}

// TestArtifactsStdinObject: an object as stdin, streamed to the task.
func TestArtifactsStdinObject(t *testing.T) {
	e := newEnv(t)
	e.start(testConfig("w-art"), fake.New(fake.Options{}))
	e.putObject("art-stdin/in/stdin", []byte("from the store\n"))
	tk := task("art-stdin", "cat")
	tk.InputObject = "art-stdin/in/stdin"
	e.submit(tk)
	r := e.result("art-stdin", 10*time.Second)
	if r.Status != messages.ResultSuccess || r.LogBytes != int64(len("from the store\n")) {
		t.Errorf("result %s %q, %d log bytes", r.Status, r.Error, r.LogBytes)
	}
}
