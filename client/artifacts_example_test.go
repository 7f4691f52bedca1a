package client_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jetrun/jetrun/client"
	"github.com/jetrun/jetrun/messages"
)

// A task with a file in and a file out: the input is uploaded to the
// artifacts bucket before the task is published, and the output is read
// back from the result, its SHA-256 checked.
func ExampleClient_UploadInput() {
	nc, stop := startJetrun()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := client.New(nc)
	if err != nil {
		fmt.Println(err)
		return
	}
	const id = "example-files"
	in, err := c.UploadInput(ctx, id, 0, "/jetrun/in/words.txt", 0o644, strings.NewReader("hello artifacts\n"))
	if err != nil {
		fmt.Println(err) // errors.Is(err, client.ErrNoArtifactsBucket): not provisioned
		return
	}
	res, err := c.Run(ctx, &messages.Task{
		ID: id, Image: "busybox",
		Cmd:     []string{"copy", "/jetrun/in/words.txt", "/jetrun/out/copy.txt"},
		Inputs:  []messages.Input{in},
		Outputs: []string{"/jetrun/out/copy.txt", "/jetrun/out/none"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range res.Artifacts {
		fmt.Println(a.Path, a.State, a.Size)
	}
	rc, err := c.OpenArtifact(ctx, res.Artifacts[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rc.Close()
	data, err := io.ReadAll(rc) // or c.Download(ctx, res, dir)
	fmt.Printf("%q %v\n", data, err)
	// Output:
	// /jetrun/out/copy.txt stored 16
	// /jetrun/out/none missing 0
	// "hello artifacts\n" <nil>
}
