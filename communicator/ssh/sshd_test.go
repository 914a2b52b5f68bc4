package ssh_test

import (
	"context"
	"testing"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/commtest"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// logEvents returns a sink that logs messages to t.
func logEvents(t testing.TB) event.Sink {
	return event.SinkFunc(func(e event.Event) {
		if m, ok := e.(*event.Message); ok {
			t.Logf("event: %s: %s", m.Level, m.Text)
		}
	})
}

// sshdConfig returns a config that logs in to srv with its client key and
// verifies its host key.
func sshdConfig(srv *testsshd.Server) *ssh.Config {
	return &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
}

func connect(t testing.TB, cfg *ssh.Config, opts ssh.ConnectOptions) *ssh.Comm {
	t.Helper()
	if opts.Events == nil {
		opts.Events = logEvents(t)
	}
	comm, err := ssh.Connect(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { comm.Close() })
	return comm
}

func TestConformanceSSHD(t *testing.T) {
	srv := testsshd.Start(t)
	for _, method := range []string{ssh.MethodSFTP, ssh.MethodSCP} {
		t.Run(method, func(t *testing.T) {
			commtest.Run(t, func(t *testing.T) communicator.Communicator {
				cfg := sshdConfig(srv)
				cfg.FileTransferMethod = method
				return connect(t, cfg, ssh.ConnectOptions{})
			}, signals(srv)...)
		})
	}
}

// signals returns the suite options for srv: OpenSSH does not deliver
// signals to a root login's commands.
func signals(srv *testsshd.Server) []commtest.Option {
	if srv.User == "root" {
		return []commtest.Option{commtest.NoSignals()}
	}
	return nil
}
