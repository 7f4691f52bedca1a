package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/docker/go-units"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// inlineInputMax is the most stdin a task carries in its message; more
// goes through the artifacts bucket (Task.InputObject).
const inlineInputMax = 512 << 10

// artifactOptions are run's flags for files in and out.
type artifactOptions struct {
	uploads stringsFlag // LOCAL[:CONTAINER_PATH]
	outputs stringsFlag // CONTAINER_PATH
	dest    string
	// bigInput is stdin too large for the message, uploaded before the
	// task is published.
	bigInput io.Reader
	closer   io.Closer
}

type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func (a *artifactOptions) flags(fs *flag.FlagSet) {
	fs.Var(&a.uploads, "upload", "put the local file or directory `LOCAL[:CONTAINER_PATH]` in the container before it starts (default path "+messages.DefaultInputDir+"/<name>; repeatable)")
	fs.Var(&a.outputs, "output", "collect `CONTAINER_PATH` (a file or a directory; relative to "+messages.DefaultOutputDir+" unless absolute) when the container stops, whatever its status (repeatable)")
	fs.StringVar(&a.dest, "dest", "", "download the collected outputs into `DIR` when the task ends (default: print how to)")
}

// apply sets the outputs on t and checks the uploads' paths.
func (a *artifactOptions) apply(t *messages.Task) error {
	for _, o := range a.outputs {
		if !path.IsAbs(o) {
			o = path.Join(messages.DefaultOutputDir, o)
		}
		t.Outputs = append(t.Outputs, o)
	}
	for _, u := range a.uploads {
		if _, _, err := splitUpload(u); err != nil {
			return err
		}
		// The real inputs are set once uploaded; a placeholder lets the
		// task be validated first.
		local, target, _ := splitUpload(u)
		t.Inputs = append(t.Inputs, messages.Input{Path: target, Object: client.InputName(t.ID, len(t.Inputs), filepath.Base(local))})
	}
	if a.bigInput != nil {
		t.InputObject = client.InputName(t.ID, len(a.uploads), "stdin")
	}
	return nil
}

// splitUpload reads LOCAL[:CONTAINER_PATH].
func splitUpload(v string) (local, target string, err error) {
	local, target, ok := strings.Cut(v, ":")
	if local == "" {
		return "", "", fmt.Errorf("--upload %q: want LOCAL[:CONTAINER_PATH]", v)
	}
	if _, err := os.Stat(local); err != nil {
		return "", "", fmt.Errorf("--upload: %w", err)
	}
	if !ok || target == "" {
		target = path.Join(messages.DefaultInputDir, filepath.Base(filepath.Clean(local)))
	}
	return local, target, nil
}

// readInput reads a task's stdin: up to inlineInputMax into the task,
// more into a stream uploaded to the artifacts bucket.
func (a *artifactOptions) readInput(r io.Reader, name string, c io.Closer) ([]byte, error) {
	in, err := io.ReadAll(io.LimitReader(r, inlineInputMax+1))
	if err != nil {
		return nil, fmt.Errorf("read input %s: %w", name, err)
	}
	if len(in) > inlineInputMax {
		a.bigInput, a.closer = io.MultiReader(bytes.NewReader(in), r), c
		return nil, nil
	}
	if c != nil {
		c.Close()
	}
	if len(in) == 0 {
		return nil, nil
	}
	return in, nil
}

// upload puts the inputs in the artifacts bucket and sets t's inputs to
// what was stored.
func (a *artifactOptions) upload(ctx context.Context, cl *client.Client, t *messages.Task, st *statusLine) error {
	if a.closer != nil {
		defer a.closer.Close()
	}
	t.Inputs = t.Inputs[:0]
	for i, u := range a.uploads {
		local, target, err := splitUpload(u)
		if err != nil {
			return err
		}
		in, err := cl.UploadPath(ctx, t.ID, i, local, target)
		if err != nil {
			return fmt.Errorf("--upload %s: %w", local, err)
		}
		st.printf("uploaded %s as %s", local, in.Object)
		t.Inputs = append(t.Inputs, in)
	}
	if a.bigInput != nil {
		size, _, err := cl.Upload(ctx, t.InputObject, a.bigInput)
		if err != nil {
			return fmt.Errorf("input: %w", err)
		}
		st.printf("uploaded %s of input as %s", units.BytesSize(float64(size)), t.InputObject)
	}
	return nil
}

// report says on stderr what the result's artifacts are and downloads them
// into dest when set.
func reportArtifacts(ctx context.Context, cl *client.Client, w io.Writer, r *messages.Result, dest string) error {
	if len(r.Artifacts) == 0 {
		return nil
	}
	stored := 0
	for _, a := range r.Artifacts {
		switch a.State {
		case messages.ArtifactStored:
			stored++
		case messages.ArtifactMissing:
			fmt.Fprintf(w, "submit: output %s: missing (it did not exist when the container stopped)\n", a.Path)
		case messages.ArtifactOverCap:
			fmt.Fprintf(w, "submit: output %s: not kept: over the worker's limit of %s of outputs per task\n", a.Path, units.BytesSize(float64(a.Cap)))
		default:
			fmt.Fprintf(w, "submit: output %s: %s: %s\n", a.Path, a.State, a.Error)
		}
	}
	if stored == 0 {
		return nil
	}
	if dest == "" {
		fmt.Fprintf(w, "submit: %d output(s) stored; download them with: submit artifacts %s --dest DIR\n", stored, r.ID)
		return nil
	}
	wrote, err := cl.Download(ctx, r, dest)
	for _, p := range wrote {
		fmt.Fprintf(w, "submit: downloaded %s\n", p)
	}
	if err != nil {
		return fmt.Errorf("download outputs of task %s: %w", r.ID, err)
	}
	return nil
}

const artifactsAbout = `Lists the outputs a finished task stored (container path, state, kind,
size, SHA-256, object name), or downloads them with --dest: each is written
under DIR after its container path's last element, its SHA-256 checked.
Objects are kept for the artifacts bucket's TTL (7 days by default).`

// artifactsCmd is submit artifacts: list or download a task's outputs.
type artifactsCmd struct {
	*command
	dest string
	list bool
}

func newArtifactsCmd(s ioStreams, g *globals) *artifactsCmd {
	c := &artifactsCmd{}
	c.command = newCommand(s, g, "artifacts", "submit artifacts [--dest DIR] [--list] ID", artifactsAbout, nil)
	c.fs.StringVar(&c.dest, "dest", "", "download the outputs into `DIR`")
	c.fs.BoolVar(&c.list, "list", false, "list the outputs (the default without --dest)")
	return c
}

func (c *artifactsCmd) Run(ctx context.Context, args []string) error {
	id, nc, cl, err := c.byID(ctx, args)
	if err != nil {
		return err
	}
	defer nc.Close()
	ts, err := cl.Status(ctx, id)
	if err != nil {
		return fmt.Errorf("task %s: %w", id, err)
	}
	if ts.Result == nil {
		return fmt.Errorf("task %s has not finished: its outputs are collected when it ends", id)
	}
	r := ts.Result
	if len(r.Artifacts) == 0 {
		return fmt.Errorf("task %s has no outputs (it asked for none, or ran on a worker without artifacts)", id)
	}
	if c.list || c.dest == "" {
		for _, a := range r.Artifacts {
			fmt.Fprintf(c.stdout, "%s\t%s\t%s\t%d\t%s\t%s%s\n", a.Path, a.State, a.Kind, a.Size, a.SHA256, a.Object, linkNote(a))
		}
	}
	if c.dest == "" {
		return nil
	}
	wrote, err := cl.Download(ctx, r, c.dest)
	for _, p := range wrote {
		fmt.Fprintf(c.stderr, "submit artifacts: downloaded %s\n", p)
	}
	return err
}

func linkNote(a messages.Artifact) string {
	if a.Kind == messages.KindLink {
		return " -> " + a.Link
	}
	return ""
}
