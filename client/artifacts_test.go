package client_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// TestUploadDownloadDirectory: a local directory (a file, a subdirectory,
// a link) goes in and comes back out the same.
func TestUploadDownloadDirectory(t *testing.T) {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "a.txt"), []byte("alpha"), 0o600)
	os.Symlink("sub/a.txt", filepath.Join(src, "link"))
	in, err := c.UploadPath(ctx, "dir-rt", 0, src, "/jetrun/in/tree")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Run(ctx, &messages.Task{ID: "dir-rt", Image: "busybox", Cmd: []string{"true"},
		Inputs: []messages.Input{in}, Outputs: []string{"/jetrun/in/tree"}})
	if err != nil || res.Status != messages.ResultSuccess {
		t.Fatalf("run: %v %+v", err, res)
	}
	dest := t.TempDir()
	wrote, err := c.Download(ctx, res, dest)
	if err != nil || len(wrote) != 1 {
		t.Fatalf("Download = %q, %v", wrote, err)
	}
	if data, err := os.ReadFile(filepath.Join(dest, "tree", "sub", "a.txt")); err != nil || string(data) != "alpha" {
		t.Errorf("downloaded file: %q, %v", data, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "tree", "link")); err != nil || l != "sub/a.txt" {
		t.Errorf("downloaded link: %q, %v", l, err)
	}
	if _, err := c.Download(ctx, res, dest); err == nil {
		t.Error("a second download over the first succeeded; want it refused")
	}
}
