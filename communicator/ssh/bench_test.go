package ssh_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// BenchmarkRunTrue measures one command over the shared connection to a
// real sshd.
func BenchmarkRunTrue(b *testing.B) {
	srv := testsshd.Start(b)
	comm := connect(b, sshdConfig(srv), ssh.ConnectOptions{Events: event.Discard})
	ctx := context.Background()
	for b.Loop() {
		if err := comm.Run(ctx, &communicator.Cmd{Command: "true"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpload measures a 32 MiB upload over the shared connection to
// a real sshd, by each transfer method. bench/upload compares it with
// OpenSSH's sftp.
func BenchmarkUpload(b *testing.B) {
	srv := testsshd.Start(b)
	data := make([]byte, 32<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	dst := filepath.Join(b.TempDir(), "upload")
	for _, method := range []string{ssh.MethodSFTP, ssh.MethodSCP} {
		b.Run(method, func(b *testing.B) {
			cfg := sshdConfig(srv)
			cfg.FileTransferMethod = method
			comm := connect(b, cfg, ssh.ConnectOptions{Events: event.Discard})
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := comm.Upload(context.Background(), dst, bytes.NewReader(data), int64(len(data)), 0o644); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUploadSmall measures the fixed cost of an upload (a provisioner
// script) over the shared connection to a real sshd.
func BenchmarkUploadSmall(b *testing.B) {
	srv := testsshd.Start(b)
	comm := connect(b, sshdConfig(srv), ssh.ConnectOptions{Events: event.Discard})
	script := []byte("#!/bin/sh\necho hello\n")
	dst := filepath.Join(b.TempDir(), "dir", "script.sh")
	for b.Loop() {
		if err := comm.Upload(context.Background(), dst, bytes.NewReader(script), int64(len(script)), 0o755); err != nil {
			b.Fatal(err)
		}
	}
}
