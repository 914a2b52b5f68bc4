package ssh_test

import (
	"context"
	"testing"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// BenchmarkRunTrue measures one command over the shared connection.
func BenchmarkRunTrue(b *testing.B) {
	srv := testsshd.Start(b)
	comm := connect(b, sshdConfig(srv), ssh.ConnectOptions{})
	ctx := context.Background()
	for b.Loop() {
		if err := comm.Run(ctx, &communicator.Cmd{Command: "true"}); err != nil {
			b.Fatal(err)
		}
	}
}
