package worker

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/docker/go-units"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/internal/objget"
	"github.com/jetrun/jetrun/internal/objput"
	"github.com/jetrun/jetrun/messages"
)

// artifactsConfig is the layout of messages.ArtifactsBucket.
func artifactsConfig(c Config) jetstream.ObjectStoreConfig {
	return jetstream.ObjectStoreConfig{
		Bucket:      messages.ArtifactsBucket,
		Description: "jetrun task artifacts: inputs uploaded by producers, outputs collected by workers",
		TTL:         c.Streams.ArtifactsTTL,
		MaxBytes:    c.Streams.ArtifactsMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Streams.Replicas,
	}
}

// ensureArtifacts creates or updates the artifacts bucket.
func ensureArtifacts(ctx context.Context, js jetstream.JetStream, c Config) (jetstream.ObjectStore, error) {
	obs, err := js.CreateOrUpdateObjectStore(ctx, artifactsConfig(c))
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", messages.ArtifactsBucket, err)
	}
	return obs, nil
}

// bindArtifacts provisions the artifacts bucket or, verifying, checks it
// exists with at least the replicas asked for.
func (w *Worker) bindArtifacts(ctx context.Context) (jetstream.ObjectStore, error) {
	if !w.cfg.VerifyStreams {
		return ensureArtifacts(ctx, w.js, w.cfg)
	}
	obs, err := w.js.ObjectStore(ctx, messages.ArtifactsBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s: %w: %w: the bucket does not exist yet; %s", messages.ArtifactsBucket, ErrLayout, errNotProvisioned, provisionHint)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", messages.ArtifactsBucket, err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", messages.ArtifactsBucket, err)
	}
	if st.Replicas() < w.cfg.Streams.Replicas {
		return nil, fmt.Errorf("bucket %s: %w: replicas are %d, want at least %d; %s", messages.ArtifactsBucket, ErrLayout, st.Replicas(), w.cfg.Streams.Replicas, provisionHint)
	}
	// Objects are read with direct gets (internal/objget).
	if bs, ok := st.(*jetstream.ObjectBucketStatus); ok && bs.StreamInfo() != nil && !bs.StreamInfo().Config.AllowDirect {
		info := bs.StreamInfo()
		return nil, fmt.Errorf("bucket %s: %w: its stream %s does not allow direct gets, which readers of artifacts use; %s", messages.ArtifactsBucket, ErrLayout, info.Config.Name, provisionHint)
	}
	return obs, nil
}

// openObject opens an object of the artifacts bucket for reading, with
// bounded memory (internal/objget): reading it to the end checks its
// digest, a mismatch being jetstream.ErrDigestMismatch. A missing object
// is jetstream.ErrObjectNotFound.
func (w *Worker) openObject(ctx context.Context, name string) (io.ReadCloser, error) {
	o, err := objget.Open(ctx, w.nc, messages.ArtifactsBucket, name)
	if err != nil {
		return nil, err
	}
	return o, nil
}

func (w *Worker) artifacts() jetstream.ObjectStore {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.obs
}

// noteBucketSize refreshes jetrun_artifacts_bucket_bytes.
func (w *Worker) noteBucketSize(ctx context.Context) {
	obs := w.artifacts()
	if obs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.NATSTryTimeout)
	defer cancel()
	if st, err := obs.Status(ctx); err == nil {
		w.m.artifactBytes.Set(float64(st.Size()))
	}
}

// errNATSSource marks an error of reading from or writing to the object
// store, as opposed to the driver's or the task's.
type natsSourceError struct{ err error }

func (e *natsSourceError) Error() string { return e.err.Error() }
func (e *natsSourceError) Unwrap() error { return e.err }

// sourceReader tags the errors of an object's reader, so the copy that
// reads it can tell them from the driver's.
type sourceReader struct{ r io.Reader }

func (s sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &natsSourceError{err}
	}
	return n, err
}

// taskFault is an artifact failure caused by the task: its result is an
// error, and it is not retried.
type taskFault struct{ msg string }

func (e *taskFault) Error() string { return e.msg }

func faultf(format string, args ...any) error { return &taskFault{fmt.Sprintf(format, args...)} }

// scratchDirs are the task's scratch directories: messages.ArtifactsDir
// when it has artifacts.
func scratchDirs(t *messages.Task) []string {
	if !t.HasArtifacts() {
		return nil
	}
	return []string{messages.ArtifactsDir}
}

// retryObjects runs op until it succeeds, or fails otherwise than by the
// object store: an outage of NATS while reading or writing an object is
// retried with the backoff of retryNATS, for as long as ctx lasts. Unlike
// retryNATS, a try is not bounded in time: it moves a whole object.
func (w *Worker) retryObjects(ctx context.Context, log *slog.Logger, what string, op func() error) error {
	return w.retry(ctx, log, what, func() (error, bool) {
		err := op()
		var src *natsSourceError
		return err, err != nil && errors.As(err, &src) && !errors.Is(err, jetstream.ErrDigestMismatch)
	})
}

// inputInfo looks up an input object, retried through NATS outages. A
// missing object is the task's fault.
func (j *job) inputInfo(ctx context.Context, field, name string) (*jetstream.ObjectInfo, error) {
	obs := j.w.artifacts()
	var info *jetstream.ObjectInfo
	err := j.w.retryNATS(ctx, j.log, "look up input object", func(ctx context.Context) (err error) {
		info, err = obs.GetInfo(ctx, name)
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return backoff.Permanent(faultf("%s: object %q not found in %s (not uploaded, or expired)", field, name, messages.ArtifactsBucket))
		}
		return err
	})
	return info, err
}

// checkInputs looks up the task's input objects before its container is
// prepared: each must exist, match the digest the task gives and fit the
// worker's limit together. nil means they do; otherwise the outcome ends
// the task (an error result when it is the task's fault).
func (j *job) checkInputs(base, taskCtx context.Context, ct *containerTask) *outcome {
	t := ct.a.task
	if !t.HasArtifacts() {
		return nil
	}
	err := j.lookUpInputs(taskCtx, ct)
	if err == nil {
		return nil
	}
	return j.inputsFailed(base, taskCtx, err)
}

func (j *job) lookUpInputs(ctx context.Context, ct *containerTask) error {
	t := ct.a.task
	limit := j.w.cfg.Policy.MaxInputBytes
	var total uint64
	ct.inputs = make([]*jetstream.ObjectInfo, len(t.Inputs))
	for i, in := range t.Inputs {
		field := fmt.Sprintf("inputs[%d]", i)
		info, err := j.inputInfo(ctx, field, in.Object)
		if err != nil {
			return err
		}
		if in.SHA256 != "" {
			if got := objectSHA256(info); got != in.SHA256 {
				return faultf("%s: object %q has SHA-256 %s, the task expects %s", field, in.Object, got, in.SHA256)
			}
		}
		ct.inputs[i], total = info, total+info.Size
	}
	if t.InputObject != "" {
		info, err := j.inputInfo(ctx, "input_object", t.InputObject)
		if err != nil {
			return err
		}
		total += info.Size
		ct.stdin = &objectStdin{open: func() (io.ReadCloser, error) { return j.w.openObject(ctx, t.InputObject) }}
	}
	if total > uint64(limit) {
		return faultf("%s of input objects, more than this worker's limit of %s per task", units.BytesSize(float64(total)), units.BytesSize(float64(limit)))
	}
	return nil
}

// inputsFailed is the outcome of inputs that could not be looked up or
// placed: an error result for the task's fault (an object missing,
// corrupted or too large, a refused archive or path), else handed back as
// a Prepare failure.
func (j *job) inputsFailed(base, taskCtx context.Context, err error) *outcome {
	cause := context.Cause(taskCtx)
	var fault *taskFault
	var o outcome
	switch {
	case errors.Is(cause, ErrShutdown):
		o = j.handBack()
	case errors.Is(cause, ErrCancelRequested):
		o = ack(j.cancelledResult(cause))
	case errors.As(err, &fault), errors.Is(err, driver.ErrBadArchive), driver.IsUserVisible(err):
		reason := "inputs: " + err.Error()
		o = terminate(j.errorResult(reason), KindPrepare, reason)
	default:
		o = j.prepareFailed(base, taskCtx, driver.Transient(fmt.Errorf("copy inputs: %w", err)))
	}
	return &o
}

// placeInputs copies the task's inputs into its prepared container and
// makes the output directory its user can write. It returns the cookie's
// Files for collecting the outputs later (nil for a task without
// artifacts), or the outcome that ends the task.
func (j *job) placeInputs(base, taskCtx context.Context, cookie driver.Cookie, ct *containerTask) (driver.Files, *outcome) {
	if !ct.a.task.HasArtifacts() {
		return nil, nil
	}
	f, ok := cookie.(driver.Files)
	if !ok {
		reason := "this worker's driver cannot copy files into containers: run tasks with inputs or outputs on another queue"
		o := terminate(j.errorResult(reason), KindPrepare, reason)
		return nil, &o
	}
	if err := j.copyInputs(taskCtx, f, ct); err != nil {
		return nil, j.inputsFailed(base, taskCtx, err)
	}
	return f, nil
}

func (j *job) copyInputs(ctx context.Context, f driver.Files, ct *containerTask) error {
	t := ct.a.task
	for i, in := range t.Inputs {
		field := fmt.Sprintf("inputs[%d]", i)
		err := j.w.retryObjects(ctx, j.log, "copy input", func() error { return j.copyInput(ctx, f, in, ct.inputs[i]) })
		if errors.Is(err, jetstream.ErrDigestMismatch) {
			return faultf("%s: object %q is corrupted: its content does not match its SHA-256 digest", field, in.Object)
		}
		if err != nil {
			return fmt.Errorf("%s (%s): %w", field, in.Path, err)
		}
	}
	if len(t.Outputs) > 0 {
		// The outputs' directory, which the task's user may write.
		dir := path.Base(messages.DefaultOutputDir) + "/"
		if err := f.CopyIn(ctx, path.Dir(messages.DefaultOutputDir), dirArchive(dir)); err != nil {
			return fmt.Errorf("make %s: %w", messages.DefaultOutputDir, err)
		}
	}
	j.w.noteBucketSize(ctx)
	return nil
}

// finish collects the outputs of a task that ran into r, and notes a
// stdin object that could not be fed whole, then acks. A failure of the
// infrastructure while collecting hands the task back (on its last run:
// an error result).
func (j *job) finish(base context.Context, r *messages.Result, f driver.Files, ct *containerTask) outcome {
	if why := ct.stdin.failure(); why != "" {
		r.Status = messages.ResultError
		r.Error = joinReason(why, r.Error)
	}
	if f == nil {
		return ack(r)
	}
	err := j.collectOutputs(base, f, r, ct.a.task)
	switch {
	case err == nil:
		return ack(r)
	case errors.Is(context.Cause(base), ErrShutdown):
		return j.handBack()
	case j.last:
		reason := fmt.Sprintf("collecting outputs failed on the last allowed run (%d): %v", j.attempt, err)
		r.Error = joinReason(reason, r.Error)
		r.Artifacts = nil
		return terminate(r, KindLastDelivery, reason)
	}
	return requeue(KindRun, j.nakDelay(), fmt.Errorf("collect outputs: %w", err))
}

func joinReason(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}

// copyInput streams one object into the container: a file as a one-entry
// archive, a directory's archive as it is (the driver checks it).
func (j *job) copyInput(ctx context.Context, f driver.Files, in messages.Input, info *jetstream.ObjectInfo) error {
	obj, err := j.w.openObject(ctx, in.Object)
	if err != nil {
		if errors.Is(err, jetstream.ErrObjectNotFound) {
			return faultf("object %q not found in %s", in.Object, messages.ArtifactsBucket)
		}
		return &natsSourceError{err}
	}
	defer obj.Close()
	src := sourceReader{obj}
	if in.Kind == messages.KindDir {
		return f.CopyIn(ctx, in.Path, src)
	}
	mode := int64(in.Mode)
	if mode == 0 {
		mode = 0o644
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path.Base(in.Path), Size: int64(info.Size), Mode: mode, ModTime: info.ModTime, Format: tar.FormatPAX})
		if err == nil {
			_, err = io.Copy(tw, src)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	err = f.CopyIn(ctx, path.Dir(in.Path), pr)
	pr.CloseWithError(errCopyDone)
	return err
}

var errCopyDone = errors.New("copy ended")

// objectSHA256 is an object's SHA-256 digest in hex, "" when unreadable.
func objectSHA256(info *jetstream.ObjectInfo) string {
	b, err := jetstream.DecodeObjectDigest(info.Digest)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(b)
}

// objectStdin reads the task's input object as its stdin, opened on the
// first read; a failure is kept for the result.
type objectStdin struct {
	open func() (io.ReadCloser, error)
	r    io.ReadCloser
	err  error
}

func (o *objectStdin) Read(p []byte) (int, error) {
	if o.r == nil && o.err == nil {
		o.r, o.err = o.open()
	}
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		o.err = err
	}
	return n, err
}

// failure is why the stdin object could not be fed whole, or "".
func (o *objectStdin) failure() string {
	switch {
	case o == nil || o.err == nil:
		return ""
	case errors.Is(o.err, jetstream.ErrDigestMismatch):
		return "input_object: the object is corrupted: its content does not match its SHA-256 digest; the task's stdin was cut short"
	}
	return "input_object: reading the object failed, the task's stdin was cut short: " + o.err.Error()
}

// dirArchive is an archive of one directory entry named name.
func dirArchive(name string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: time.Now()})
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr
}

// errOverCap stops an output that passes the per-task limit.
var errOverCap = errors.New("over the output cap")

// collectOutputs copies the task's output paths out of the stopped
// container into the object store and lists them in r, whatever the
// task's status. A path that does not exist is listed missing, one that
// would pass Policy.MaxOutputBytes over the cap. It fails only for the
// worker's infrastructure: the driver failing transiently, or ctx ending
// while NATS is away.
func (j *job) collectOutputs(ctx context.Context, f driver.Files, r *messages.Result, t *messages.Task) error {
	if len(t.Outputs) == 0 {
		return nil
	}
	budget := j.w.cfg.Policy.MaxOutputBytes
	for i, p := range t.Outputs {
		art := messages.Artifact{Path: p}
		var size int64
		err := j.w.retryObjects(ctx, j.log, "collect output", func() (err error) {
			art, size, err = j.collectOutput(ctx, f, t.ID, i, p, budget)
			return err
		})
		if err != nil {
			return fmt.Errorf("outputs[%d] (%s): %w", i, p, err)
		}
		budget -= size
		r.Artifacts = append(r.Artifacts, art)
	}
	j.w.noteBucketSize(ctx)
	return nil
}

// collectOutput stores output i at path p of task id, with budget bytes
// left, and says how it went; it returns the bytes stored.
func (j *job) collectOutput(ctx context.Context, f driver.Files, id string, i int, p string, budget int64) (messages.Artifact, int64, error) {
	art := messages.Artifact{Path: p}
	overCap := func() (messages.Artifact, int64, error) {
		art.State, art.Cap, art.Kind = messages.ArtifactOverCap, j.w.cfg.Policy.MaxOutputBytes, ""
		return art, 0, nil
	}
	rc, err := f.CopyOut(ctx, p)
	switch {
	case errors.Is(err, driver.ErrNotExist):
		art.State = messages.ArtifactMissing
		return art, 0, nil
	case err != nil && driver.IsTransient(err):
		return art, 0, err
	case err != nil:
		art.State, art.Error = messages.ArtifactFailed, err.Error()
		return art, 0, nil
	}
	defer rc.Close()
	name := messages.OutputObject(id, i)
	obs := j.w.artifacts()
	var (
		info   *jetstream.ObjectInfo
		putErr error
		tw     *tar.Writer
		pw     *io.PipeWriter
		done   chan struct{}
		count  int64
	)
	errStop := errors.New("stop")
	err = driver.ReadArchive(rc, func(h *tar.Header, body io.Reader) error {
		if tw == nil && art.Kind == "" {
			switch h.Typeflag {
			case tar.TypeReg:
				art.Kind = messages.KindFile
				if h.Size > budget {
					return errOverCap
				}
				info, putErr = objput.Put(ctx, j.w.js, obs, messages.ArtifactsBucket, jetstream.ObjectMeta{Name: name}, body)
				return errStop
			case tar.TypeSymlink:
				art.Kind, art.Link = messages.KindLink, h.Linkname
				return errStop
			}
			art.Kind = messages.KindDir
			var pr *io.PipeReader
			pr, pw = io.Pipe()
			tw = tar.NewWriter(&countingWriter{w: pw, n: &count, max: budget})
			done = make(chan struct{})
			go func() {
				defer close(done)
				info, putErr = objput.Put(ctx, j.w.js, obs, messages.ArtifactsBucket, jetstream.ObjectMeta{Name: name}, pr)
				pr.CloseWithError(putErr)
			}()
		}
		// Names relative to the output directory, its root ".".
		rel := "."
		if _, after, ok := cutFirst(h.Name); ok {
			rel = after
		}
		out := &tar.Header{Typeflag: h.Typeflag, Name: rel, Linkname: h.Linkname, Size: h.Size, Mode: h.Mode & 0o7777, ModTime: h.ModTime, Format: tar.FormatPAX}
		if h.Typeflag == tar.TypeDir {
			out.Name += "/"
		}
		if err := tw.WriteHeader(out); err != nil {
			return err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, body); err != nil {
				return err
			}
		}
		return nil
	})
	if tw != nil {
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
		<-done
		if err == nil && putErr != nil {
			err = &natsSourceError{putErr}
		}
	}
	switch {
	case errors.Is(err, errOverCap):
		return overCap()
	case errors.Is(err, errStop):
		if putErr != nil {
			return art, 0, &natsSourceError{putErr}
		}
	case err != nil:
		var src *natsSourceError
		if errors.As(err, &src) || driver.IsTransient(err) {
			return art, 0, err
		}
		art.State, art.Error = messages.ArtifactFailed, err.Error()
		return art, 0, nil
	}
	art.State = messages.ArtifactStored
	if info != nil {
		art.Object, art.Size, art.SHA256 = name, int64(info.Size), objectSHA256(info)
	}
	return art, art.Size, nil
}

// cutFirst splits a cleaned archive name after its first element.
func cutFirst(name string) (first, rest string, ok bool) {
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			return name[:i], name[i+1:], true
		}
	}
	return name, "", false
}

// countingWriter fails with errOverCap once more than max bytes were
// written through it.
type countingWriter struct {
	w   io.Writer
	n   *int64
	max int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if *c.n+int64(len(p)) > c.max {
		return 0, errOverCap
	}
	n, err := c.w.Write(p)
	*c.n += int64(n)
	if err != nil {
		err = &natsSourceError{err}
	}
	return n, err
}
