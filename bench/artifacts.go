package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Container paths of the artifacts benchmark.
const (
	artifactName   = "data.bin"
	artifactInput  = "/jetrun/in/" + artifactName
	artifactOutput = "/jetrun/out/" + artifactName
)

// artifacts measures a file's round trip through the artifacts bucket
// with the real binaries, each its own process: `submit run --upload
// FILE --output PATH --dest DIR` against a cmd/worker with the Docker
// driver, the container copying its input to the output path. The
// baseline does the same job with the docker CLI: create the container,
// docker cp the file in, start it, docker cp the output back. Both
// figures are the file's MiB over the round trip's seconds; the peak
// resident sets of the worker and of submit show whether the file passed
// through their memory.
func (h *harness) artifacts(ctx context.Context) (*result, error) {
	mib := h.cfg.artifactsMiB
	r := &result{
		Name: benchArtifacts, Unit: "MiB/s", Target: 0.5,
		JetrunWhat: fmt.Sprintf("%d MiB of random bytes, divided by the wall time of one `submit run --upload FILE:%s --output %s --dest DIR IMAGE -- copy %[2]s %[3]s` process (connect, upload into JETRUN_ARTIFACTS, task run by a cmd/worker process with the Docker driver, output collected into the bucket, downloaded, SHA-256 checked by submit), the downloaded file's SHA-256 checked again by the harness; "+
			"worker and submit are the real binaries, each its own process, against this process's NATS server (file storage); the worker's RSS is read from /proc/<pid>/status (VmRSS idle, VmHWM its peak over its whole life), submit's peak is its VmHWM sampled every 10ms until it exits", mib, artifactInput, artifactOutput),
		BaselineWhat: fmt.Sprintf("the same %d MiB divided by the wall time of the docker CLI doing the same job: `docker create -v /jetrun IMAGE copy /jetrun/%s /jetrun/%[2]s.out`, `docker cp FILE C:/jetrun/%[2]s`, `docker start -a C`, `docker cp C:/jetrun/%[2]s.out DIR` (the container's removal is not timed), the copy's SHA-256 checked", mib, artifactName),
		Notes:        []string{"Target 0.5: jetrun moves each byte through the NATS server on both legs (into the bucket and out of it, over loopback TCP in 512 KiB chunks, hashed at each end) where docker cp streams straight to the daemon, so half of docker cp's speed is what a streaming design without copies to spare should reach; the RSS figures are the requirement that matters: they must not grow with the file (compare -artifacts-mib 20)."},
	}
	workerBin, err := h.buildBinary(ctx, "./cmd/worker", "worker")
	if err != nil {
		return nil, err
	}
	submitBin, err := h.buildBinary(ctx, "./cmd/submit", "submit")
	if err != nil {
		return nil, err
	}
	dockerBin, err := exec.LookPath("docker")
	if err != nil {
		return nil, fmt.Errorf("the docker CLI is the baseline: %w", err)
	}
	src := filepath.Join(h.tmp, artifactName)
	sum, err := writeRandomFile(src, int64(mib)<<20)
	if err != nil {
		return nil, err
	}
	defer os.Remove(src)
	h.logf("  %d MiB file %s, SHA-256 %s", mib, src, sum)

	idle := extra{Key: "worker_idle_rss_mib", Label: "worker RSS idle (VmRSS)", Unit: "MiB"}
	workerPeak := extra{Key: "worker_peak_rss_mib", Label: "worker peak RSS (VmHWM)", Unit: "MiB"}
	submitPeak := extra{Key: "submit_peak_rss_mib", Label: "submit run peak RSS (VmHWM)", Unit: "MiB"}
	dockerPeak := extra{Key: "docker_cp_peak_rss_mib", Label: "docker cp peak RSS (VmHWM, larger of in and out)", Unit: "MiB"}
	cpOnly := extra{Key: "docker_cp_only_mibps", Label: "docker cp in + out alone (no create, no start)", Unit: "MiB/s"}

	jet := func(ctx context.Context, rep int) (float64, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		env, err := h.startNATS()
		if err != nil {
			return 0, err
		}
		defer env.close()
		limit := fmt.Sprintf("%dMiB", mib+16)
		wp, err := h.startWorkerProcess(ctx, env, workerBin, fmt.Sprintf("bench-artifacts-%d", rep),
			"--concurrency", "1", "--max-input", limit, "--max-output", limit,
			"--artifacts-max-bytes", fmt.Sprintf("%dMiB", 2*mib+64))
		if err != nil {
			return 0, err
		}
		defer wp.stop()
		idleRSS, err := sampleRSS(ctx, wp.pid())
		if err != nil {
			return 0, err
		}
		dest, err := os.MkdirTemp(h.tmp, "dest-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dest)
		logPath := filepath.Join(h.tmp, fmt.Sprintf("submit-%d.log", rep))
		args := []string{"--nats", env.srv.ClientURL(), "run", "--id", fmt.Sprintf("art%d", rep),
			"--upload", src + ":" + artifactInput, "--output", artifactOutput, "--dest", dest,
			// The testee's copy holds the file in memory.
			"--memory", fmt.Sprintf("%dM", mib+128), "--timeout", "10m",
			h.image, "--", "copy", artifactInput, artifactOutput}
		logFile, err := os.Create(logPath)
		if err != nil {
			return 0, err
		}
		defer logFile.Close()
		start := time.Now()
		maxRSS, err := runMeasured(ctx, submitBin, args, logFile)
		secs := time.Since(start).Seconds()
		if err != nil {
			return 0, fmt.Errorf("submit run: %w (its output is in %s)", err, logPath)
		}
		if err := wp.alive(); err != nil {
			return 0, err
		}
		peak, err := procStatusMiB(wp.pid(), "VmHWM")
		if err != nil {
			return 0, err
		}
		if err := checkFile(filepath.Join(dest, artifactName), sum); err != nil {
			return 0, err
		}
		idle.Vals, workerPeak.Vals, submitPeak.Vals = append(idle.Vals, idleRSS), append(workerPeak.Vals, peak), append(submitPeak.Vals, maxRSS)
		h.logf("  repeat %d jetrun   worker RSS idle %.1f MiB, peak %.1f MiB; submit peak %.1f MiB; %.2f s", rep+1, idleRSS, peak, maxRSS, secs)
		return float64(mib) / secs, nil
	}

	base := func(ctx context.Context, rep int) (float64, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
		defer cancel()
		dest, err := os.MkdirTemp(h.tmp, "dest-")
		if err != nil {
			return 0, err
		}
		defer os.RemoveAll(dest)
		docker := func(args ...string) (string, float64, time.Duration, error) {
			var out bytes.Buffer
			t := time.Now()
			peak, err := runMeasured(ctx, dockerBin, args, &out)
			d := time.Since(t)
			if err != nil {
				return "", 0, d, fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
			}
			return strings.TrimSpace(out.String()), peak, d, nil
		}
		name := fmt.Sprintf("jetrun-bench-cp-%d-%d", os.Getpid(), rep)
		start := time.Now()
		id, _, _, err := docker("create", "--name", name, "--network", "none", "-v", "/jetrun", h.image,
			"copy", "/jetrun/"+artifactName, "/jetrun/"+artifactName+".out")
		if err != nil {
			return 0, err
		}
		defer func() {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_ = exec.CommandContext(rctx, dockerBin, "rm", "-f", "-v", name).Run()
		}()
		_, inRSS, inTime, err := docker("cp", src, id+":/jetrun/"+artifactName)
		if err != nil {
			return 0, err
		}
		if _, _, _, err := docker("start", "-a", id); err != nil {
			return 0, err
		}
		_, outRSS, outTime, err := docker("cp", id+":/jetrun/"+artifactName+".out", filepath.Join(dest, artifactName))
		if err != nil {
			return 0, err
		}
		secs := time.Since(start).Seconds()
		if err := checkFile(filepath.Join(dest, artifactName), sum); err != nil {
			return 0, err
		}
		dockerPeak.Vals = append(dockerPeak.Vals, max(inRSS, outRSS))
		cpOnly.Vals = append(cpOnly.Vals, float64(mib)/(inTime+outTime).Seconds())
		h.logf("  repeat %d baseline docker cp in %.2f s, out %.2f s, peak RSS %.1f MiB; %.2f s", rep+1, inTime.Seconds(), outTime.Seconds(), max(inRSS, outRSS), secs)
		return float64(mib) / secs, nil
	}
	err = h.repeat(ctx, r, jet, base)
	r.Extra = []extra{idle, workerPeak, submitPeak, dockerPeak, cpOnly}
	return r, err
}

// runMeasured runs bin with args, its output to out, and returns its
// peak resident set in MiB: VmHWM from /proc/<pid>/status, sampled every
// 10ms until it exits (the last sample is at most 10ms before its end).
// rusage's maxrss would not do: Linux carries the high-water mark of the
// forked copy of this process across exec into it.
func runMeasured(ctx context.Context, bin string, args []string, out io.Writer) (float64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = withoutNATSEnv(withoutJetrunEnv(os.Environ()))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 15 * time.Second
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var (
		peak float64
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := procStatusMiB(cmd.Process.Pid, "VmHWM"); err == nil {
				peak = max(peak, v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
	<-done
	return peak, err
}

// writeRandomFile writes size pseudo-random bytes to path and returns
// their SHA-256 in hex.
func writeRandomFile(path string, size int64) (string, error) {
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	rng := rand.NewChaCha8(seed)
	_, err = io.CopyN(io.MultiWriter(f, h), rng, size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// checkFile fails unless path's SHA-256 is want.
func checkFile(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, the file sent %s", path, got, want)
	}
	return nil
}

// withoutNATSEnv drops NATS_URL, so submit talks to the server its flags
// name.
func withoutNATSEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "NATS_URL=") {
			out = append(out, kv)
		}
	}
	return out
}
