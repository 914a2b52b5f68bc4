package shell

import (
	"context"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/testenv"
	"github.com/kilnhq/kiln/internal/testsshd"
	"github.com/kilnhq/kiln/provisioner"
)

// BenchmarkSSHDInlineTrue measures one shell provisioner running `true`
// (upload the script, run it, remove it) over an established connection to
// a real sshd, next to OpenSSH's client running `true` once over a
// multiplexed master connection (one round trip, no upload: a floor).
func BenchmarkSSHDInlineTrue(b *testing.B) {
	srv := testsshd.Start(b)
	b.Run("kiln", func(b *testing.B) {
		cfg := &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
		comm, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{Events: event.Discard})
		if err != nil {
			b.Fatal(err)
		}
		defer comm.Close()
		p, diags := New(parseB(b, `inline = ["true"]`), nil)
		if diags.HasErrors() {
			b.Fatal(diags)
		}
		env := &provisioner.Env{Events: event.Discard, Source: "bench"}
		b.ResetTimer()
		for b.Loop() {
			if err := p.Provision(context.Background(), env, comm); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("openssh-mux", func(b *testing.B) {
		sshBin := testenv.Tool(b, "ssh")
		sock := filepath.Join(b.TempDir(), "mux")
		args := []string{"-S", sock, "-p", strconv.Itoa(srv.Port), "-i", srv.ClientKeyFile, "-o", "UserKnownHostsFile=" + srv.KnownHostsFile,
			"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-l", srv.User}
		master := exec.Command(sshBin, append(append([]string{"-M", "-N", "-f"}, args...), srv.Host)...)
		if out, err := master.CombinedOutput(); err != nil {
			b.Fatalf("ssh master: %v: %s", err, out)
		}
		defer exec.Command(sshBin, append(append([]string{"-O", "exit"}, args...), srv.Host)...).Run()
		b.ResetTimer()
		for b.Loop() {
			if out, err := exec.Command(sshBin, append(args, srv.Host, "true")...).CombinedOutput(); err != nil {
				b.Fatalf("ssh: %v: %s", err, out)
			}
		}
	})
}
