package ssh_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/testsshd"
)

func connectSSHD(t *testing.T, srv *testsshd.Server, mod func(*ssh.Config)) *ssh.Comm {
	t.Helper()
	cfg := &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
	if mod != nil {
		mod(cfg)
	}
	comm, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{Events: event.SinkFunc(func(e event.Event) {
		if m, ok := e.(*event.Message); ok {
			t.Logf("event: %s: %s", m.Level, m.Text)
		}
	})})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { comm.Close() })
	return comm
}

func TestSSHDSmoke(t *testing.T) {
	srv := testsshd.Start(t)
	comm := connectSSHD(t, srv, nil)
	var out bytes.Buffer
	if err := comm.Run(context.Background(), &communicator.Cmd{Command: "echo hello; exit 3", Stdout: &out}); err == nil {
		t.Fatal("want exit error")
	} else {
		t.Logf("err: %v", err)
	}
	if strings.TrimSpace(out.String()) != "hello" {
		t.Fatalf("out %q", out.String())
	}
}
