package testee

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
)

// fileStep runs the steps that make and copy files (mkdir, copy, sha256,
// mkfiles, writemib); any other name is an unknown step.
func (in *Interpreter) fileStep(ctx context.Context, name string, args []string,
	usage func(string, ...any) (int, bool, error), ioFail func(string, error) (int, bool, error),
) (int, bool, error) {
	files := in.files()
	switch name {
	case "mkdir":
		if len(args) != 1 {
			return usage("mkdir wants one path, got %d arguments", len(args))
		}
		if err := files.MkdirAll(args[0]); err != nil {
			return ioFail("mkdir", err)
		}
	case "copy":
		if len(args) != 2 {
			return usage("copy wants a source and a destination, got %d arguments", len(args))
		}
		data, err := files.ReadFile(args[0])
		if err != nil {
			return ioFail("copy", err)
		}
		if err := files.WriteFile(args[1], data); err != nil {
			return ioFail("copy", err)
		}
	case "sha256":
		if len(args) != 2 {
			return usage("sha256 wants a path and an output path, got %d arguments", len(args))
		}
		data, err := files.ReadFile(args[0])
		if err != nil {
			return ioFail("sha256", err)
		}
		sum := sha256.Sum256(data)
		if err := files.WriteFile(args[1], []byte(hex.EncodeToString(sum[:])+"\n")); err != nil {
			return ioFail("sha256", err)
		}
	case "mkfiles":
		n, err := strconv.Atoi(argOr(args, 1))
		if len(args) != 2 || err != nil || n < 0 || n > 1<<20 {
			return usage("mkfiles wants a directory and a count, got %q", args)
		}
		if err := files.MkdirAll(args[0]); err != nil {
			return ioFail("mkfiles", err)
		}
		for i := range n {
			if err := context.Cause(ctx); err != nil {
				return -1, true, fmt.Errorf("testee: mkfiles stopped: %w", err)
			}
			if err := files.WriteFile(path.Join(args[0], "f"+strconv.Itoa(i)), []byte(fmt.Sprintf("file %d\n", i))); err != nil {
				return ioFail("mkfiles", err)
			}
		}
	case "writemib":
		mib, ok := mebibytes(args[min(1, len(args)):], 0)
		if len(args) != 2 || !ok {
			return usage("writemib wants a path and a size in MiB, got %q", args)
		}
		var buf bytes.Buffer
		if err := writePattern(ctx, &buf, int64(mib)<<20); err != nil {
			return ioFail("writemib", err)
		}
		if err := files.WriteFile(args[0], buf.Bytes()); err != nil {
			return ioFail("writemib", err)
		}
	default:
		return usage("unknown step %q", name)
	}
	return 0, false, nil
}

func argOr(args []string, i int) string {
	if i < len(args) {
		return args[i]
	}
	return ""
}
