package testsshd_test

import (
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// The server takes OpenSSH's own client with the generated key and
// known_hosts file, and is gone after Stop.
func TestStartWithOpenSSHClient(t *testing.T) {
	srv := testsshd.Start(t)
	ssh := testenv.Tool(t, "ssh")
	out, err := exec.Command(ssh, "-i", srv.ClientKeyFile, "-o", "UserKnownHostsFile="+srv.KnownHostsFile,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-p", strconv.Itoa(srv.Port),
		srv.User+"@"+srv.Host, "echo $SSH_CONNECTION").CombinedOutput()
	if err != nil {
		t.Fatalf("ssh: %v\n%s", err, out)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), " "+strconv.Itoa(srv.Port)) {
		t.Errorf("SSH_CONNECTION = %q, want it to end with port %d", out, srv.Port)
	}
	srv.Stop()
	if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		c.Close()
		t.Error("sshd still accepts connections after Stop")
	}
}

func TestDelay(t *testing.T) {
	srv := testsshd.Start(t, testsshd.Delay(time.Second))
	returned := time.Now()
	if c, err := net.DialTimeout("tcp", srv.Addr, time.Second); err == nil {
		c.Close()
		t.Fatal("sshd listens before its delay")
	}
	select {
	case <-srv.Ready():
	case <-time.After(15 * time.Second):
		t.Fatalf("sshd not ready 15 s after a 1 s delay; log:\n%s", srv.Log())
	}
	if !srv.ReadyAt().After(returned) {
		t.Errorf("ReadyAt = %v, not after Start returned at %v", srv.ReadyAt(), returned)
	}
	c, err := net.DialTimeout("tcp", srv.Addr, time.Second)
	if err != nil {
		t.Fatalf("dial after Ready: %v", err)
	}
	c.Close()
	if !strings.Contains(srv.HCL(), "ssh_host_public_key = \"ssh-ed25519 ") {
		t.Errorf("HCL() = %q lacks the host key", srv.HCL())
	}
}

func TestRestart(t *testing.T) {
	srv := testsshd.Start(t)
	first := srv.ReadyAt()
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if !srv.ReadyAt().After(first) {
		t.Errorf("ReadyAt = %v after Restart, not after the first start %v", srv.ReadyAt(), first)
	}
	c, err := net.DialTimeout("tcp", srv.Addr, time.Second)
	if err != nil {
		t.Fatalf("dial after Restart: %v", err)
	}
	c.Close()
}
