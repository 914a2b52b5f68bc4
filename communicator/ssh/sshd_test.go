package ssh_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/commtest"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/sshtest"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// sshdConfig returns a config that logs in to srv with its client key and
// verifies its host key.
func sshdConfig(srv *testsshd.Server) *ssh.Config {
	return &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
}

func connect(t testing.TB, cfg *ssh.Config, opts ssh.ConnectOptions) *ssh.Comm {
	t.Helper()
	if opts.Events == nil {
		opts.Events = &eventtest.Recorder{Logf: t.Logf}
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
			})
		})
	}
}

func TestBastion(t *testing.T) {
	bastion := testsshd.Start(t, testsshd.Config("LogLevel DEBUG1"))
	target := sshtest.Start(t, sshtest.Options{})
	cfg := testConfig(target)
	cfg.BastionHost = bastion.Host
	cfg.BastionPort = bastion.Port
	cfg.BastionUsername = bastion.User
	cfg.BastionPrivateKeyFile = bastion.ClientKeyFile
	cfg.KnownHostsFile = bastion.KnownHostsFile // verifies the bastion
	comm := connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo via bastion"); got != "via bastion\n" {
		t.Errorf("got %q", got)
	}
	if want := "direct-tcpip"; !strings.Contains(bastion.Log(), want) {
		t.Errorf("the bastion's log has no %q: the connection did not go through it", want)
	}
	if target.Logins() == 0 {
		t.Error("the target saw no login")
	}
}

func TestPTY(t *testing.T) {
	srv := testsshd.Start(t)
	cfg := sshdConfig(srv)
	cfg.PTY = true
	comm := connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "tty"); !strings.HasPrefix(got, "/dev/pts/") {
		t.Errorf("tty printed %q with ssh_pty = true", got)
	}
}

func TestKnownHostsSSHD(t *testing.T) {
	srv := testsshd.Start(t)
	cfg := sshdConfig(srv)
	cfg.HostPublicKey = ""
	cfg.KnownHostsFile = srv.KnownHostsFile
	comm := connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo ok"); got != "ok\n" {
		t.Errorf("got %q", got)
	}
}

func TestClearAuthorizedKeys(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	home := t.TempDir()
	if err := os.MkdirAll(home+"/.ssh", 0o700); err != nil {
		t.Fatal(err)
	}
	keys := home + "/.ssh/authorized_keys"
	if err := os.WriteFile(keys, []byte("ssh-ed25519 AAAA test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home) // the in-process server's commands inherit it
	if err := comm.ClearAuthorizedKeys(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(keys); !os.IsNotExist(err) {
		t.Errorf("authorized_keys still there after ClearAuthorizedKeys (%v)", err)
	}
}

// Paths under ~/ land in the login user's home directory by either method.
func TestHomeRelativePaths(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	home := t.TempDir()
	t.Setenv("HOME", home) // the in-process server's shell and scp use it
	for _, method := range []string{ssh.MethodSFTP, ssh.MethodSCP} {
		t.Run(method, func(t *testing.T) {
			needTransferTool(t, method)
			cfg := testConfig(srv)
			cfg.FileTransferMethod = method
			comm := connect(t, cfg, ssh.ConnectOptions{})
			if err := comm.Upload(context.Background(), "~/"+method+"/f", strings.NewReader("hi"), 2, 0o600); err != nil {
				t.Fatal(err)
			}
			var back strings.Builder
			if err := comm.Download(context.Background(), "~/"+method+"/f", &back); err != nil || back.String() != "hi" {
				t.Fatalf("Download ~/%s/f = %q, %v", method, back.String(), err)
			}
			if got := runOutput(t, comm, "cat \"$HOME/"+method+"/f\""); got != "hi" {
				t.Errorf("$HOME/%s/f holds %q", method, got)
			}
		})
	}
}

// A real sshd killed under a running command (a machine going down) is a
// lost connection, and the next call tries to reconnect until ssh_timeout.
func TestSSHDKilledMidCommand(t *testing.T) {
	srv := testsshd.Start(t)
	cfg := sshdConfig(srv)
	cfg.Timeout = time.Second
	comm := connect(t, cfg, ssh.ConnectOptions{})
	done := runLong(t, comm)
	srv.Stop()
	wantDisconnected(t, done, 15*time.Second, "a killed sshd")
	err := comm.Run(context.Background(), &communicator.Cmd{Command: "true"})
	if err == nil || !strings.Contains(err.Error(), "ssh_timeout") || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Run with sshd gone = %v, want a timeout naming ssh_timeout and the refused connection", err)
	}
}

// After a reboot-like restart of sshd the next call reconnects by itself.
func TestSSHDRestart(t *testing.T) {
	srv := testsshd.Start(t)
	comm := connect(t, sshdConfig(srv), ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo before"); got != "before\n" {
		t.Fatalf("got %q", got)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if got := runOutput(t, comm, "echo after"); got != "after\n" {
		t.Errorf("after the restart: %q", got)
	}
}
