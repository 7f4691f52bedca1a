package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/jetrun/jetrun/driver"
	"github.com/jetrun/jetrun/worker"
)

// directRunTimeout bounds one container run on the direct path.
const directRunTimeout = 5 * time.Minute

// directConfig is the container the baselines create: the test image with
// the same isolation and limits the Docker driver applies to a task that
// asks for no resources (no network, every capability dropped,
// no-new-privileges, an init process, the default memory without swap, the
// default CPU quota and pids limit), so that the comparison measures what
// jetrun adds, not its security defaults.
func (h *harness) directConfig(cmd []string) (*container.Config, *container.HostConfig) {
	rt := driver.Config{}.WithDefaults()
	p := worker.Policy{}.WithDefaults()
	init := true
	pids := rt.PidsLimit
	cfg := &container.Config{
		Image:           h.image,
		Cmd:             cmd,
		Labels:          map[string]string{"jetrun.bench": "baseline"},
		NetworkDisabled: true,
		AttachStdout:    true,
		AttachStderr:    true,
	}
	host := &container.HostConfig{
		NetworkMode: "none",
		CapDrop:     []string{"ALL"},
		SecurityOpt: []string{"no-new-privileges:true"},
		Init:        &init,
		Resources: container.Resources{
			Memory:     int64(p.DefaultMemory),
			MemorySwap: int64(p.DefaultMemory),
			CPUPeriod:  100_000,
			CPUQuota:   int64(p.DefaultCPUs) * 100_000 / 1000,
			PidsLimit:  &pids,
		},
	}
	return cfg, host
}

// directRun runs cmd in a container through the Docker API alone: create,
// (attach when out is set, copying the demultiplexed output to out), wait
// registered before start, start, wait for the exit, remove. It fails on a
// non-zero exit.
func (h *harness) directRun(ctx context.Context, cmd []string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, directRunTimeout)
	defer cancel()
	cfg, host := h.directConfig(cmd)
	var nonce [4]byte
	_, _ = rand.Read(nonce[:])
	created, err := h.docker.ContainerCreate(ctx, cfg, host, nil, nil, "jetrun-bench-"+hex.EncodeToString(nonce[:]))
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	id := created.ID
	removed := false
	defer func() {
		if removed {
			return
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_ = h.docker.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}()
	var copied chan error
	if out != nil {
		att, err := h.docker.ContainerAttach(ctx, id, container.AttachOptions{Stream: true, Stdout: true, Stderr: true})
		if err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		defer att.Close()
		copied = make(chan error, 1)
		go func() {
			_, err := stdcopy.StdCopy(out, out, att.Reader)
			copied <- err
		}()
	}
	waitC, errC := h.docker.ContainerWait(ctx, id, container.WaitConditionNextExit)
	if err := h.docker.ContainerStart(ctx, id, container.StartOptions{}); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	var exit container.WaitResponse
	select {
	case exit = <-waitC:
	case err := <-errC:
		return fmt.Errorf("wait: %w", err)
	}
	if copied != nil {
		if err := <-copied; err != nil {
			return fmt.Errorf("read output: %w", err)
		}
	}
	if exit.StatusCode != 0 {
		return fmt.Errorf("container exited with code %d", exit.StatusCode)
	}
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer rcancel()
	if err := h.docker.ContainerRemove(rctx, id, container.RemoveOptions{Force: true, RemoveVolumes: true}); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	removed = true
	return nil
}
