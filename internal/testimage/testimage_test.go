package testimage_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"

	"github.com/jetrun/jetrun/internal/testimage"
)

func TestEnsureBuildsTesteeImage(t *testing.T) {
	ref := testimage.Ensure(t)
	if !strings.HasPrefix(ref, testimage.Repository+":") {
		t.Fatalf("Ensure = %q, want a %s:<hash> reference", ref, testimage.Repository)
	}
	cli := testimage.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	info, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatalf("inspect %s: %v", ref, err)
	}
	if !slices.Equal(info.Config.Entrypoint, []string{"/testee"}) || !slices.Equal(info.Config.Cmd, []string{"true"}) {
		t.Errorf("image config: entrypoint %q cmd %q; want [/testee] [true]", info.Config.Entrypoint, info.Config.Cmd)
	}
	if again := testimage.Ensure(t); again != ref {
		t.Errorf("second Ensure = %q, want %q", again, ref)
	}
}

func TestBuildIsContentAddressedAndTags(t *testing.T) {
	ref := testimage.Ensure(t)
	cli := testimage.Docker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	extra := testimage.Repository + ":test-extra-tag"
	got, err := testimage.Build(ctx, cli, extra)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), extra, image.RemoveOptions{}); err != nil {
			t.Logf("remove %s: %v", extra, err)
		}
	})
	if got != ref {
		t.Errorf("Build = %q, want the same content-hash reference %q", got, ref)
	}
	a, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	b, err := cli.ImageInspect(ctx, extra)
	if err != nil {
		t.Fatalf("extra tag %s missing: %v", extra, err)
	}
	if a.ID != b.ID {
		t.Errorf("extra tag points at %s, want %s", b.ID, a.ID)
	}
}
