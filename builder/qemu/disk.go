package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// qemuImg runs qemu-img. It is a field of the builder so tests can point it
// elsewhere.
type qemuImg struct {
	bin string // default "qemu-img"
}

func (q qemuImg) run(ctx context.Context, args ...string) ([]byte, error) {
	bin := q.bin
	if bin == "" {
		bin = "qemu-img"
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("qemu-img %s: %s", args[0], msg)
	}
	return stdout.Bytes(), nil
}

// imageInfo is the part of `qemu-img info --output=json` kiln reads.
type imageInfo struct {
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual-size"`
}

func (q qemuImg) info(ctx context.Context, path string) (imageInfo, error) {
	out, err := q.run(ctx, "info", "--output=json", path)
	if err != nil {
		return imageInfo{}, err
	}
	var info imageInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return imageInfo{}, fmt.Errorf("qemu-img info %s: %w", path, err)
	}
	return info, nil
}

// overlay creates a qcow2 at dst whose backing file is src.
func (q qemuImg) overlay(ctx context.Context, src, srcFormat, dst string) error {
	_, err := q.run(ctx, "create", "-q", "-f", "qcow2", "-b", src, "-F", srcFormat, dst)
	return err
}

// convert writes src as a standalone image in format at dst, compressing
// qcow2 clusters with zstd when compress is set.
func (q qemuImg) convert(ctx context.Context, src, srcFormat, dst, format string, compress bool) error {
	args := []string{"convert", "-f", srcFormat, "-O", format}
	if compress {
		args = append(args, "-c", "-o", "compression_type=zstd")
	}
	_, err := q.run(ctx, append(args, src, dst)...)
	return err
}

func (q qemuImg) resize(ctx context.Context, path, format string, size int64) error {
	_, err := q.run(ctx, "resize", "-q", "-f", format, path, strconv.FormatInt(size, 10))
	return err
}
