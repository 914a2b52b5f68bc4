package ssh_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/sshtest"
	"github.com/kilnhq/kiln/internal/testsshd"
)

func TestPasswordLogin(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Password: "s3cret"})
	cfg := testConfig(srv)
	cfg.PrivateKeyFile = ""
	cfg.Password = "s3cret"
	comm := connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo in"); got != "in\n" {
		t.Errorf("got %q", got)
	}
}

func TestNoCredentials(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := testConfig(srv)
	cfg.PrivateKeyFile = ""
	_, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{})
	if err == nil || !strings.Contains(err.Error(), "ssh_private_key_file") {
		t.Errorf("Connect without credentials = %v, want an error naming the options", err)
	}
}

// startAgent serves an agent holding key on a socket named by SSH_AUTH_SOCK.
func startAgent(t *testing.T, key any) {
	t.Helper()
	keyring := agent.NewKeyring()
	if err := keyring.Add(agent.AddedKey{PrivateKey: key, Comment: "test key"}); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "agent.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = agent.ServeAgent(keyring, c)
			}()
		}
	}()
	t.Setenv("SSH_AUTH_SOCK", sock)
}

// The agent's key logs in, and the agent is forwarded to commands unless
// ssh_disable_agent_forwarding is set.
func TestAgentAuthAndForwarding(t *testing.T) {
	srv := testsshd.Start(t)
	_, stranger, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	strangerPub, err := gossh.NewPublicKey(stranger.Public())
	if err != nil {
		t.Fatal(err)
	}
	// The agent holds a key sshd does not know; the login key comes from
	// the file, so forwarding shows the agent's key remotely.
	startAgent(t, stranger)
	comm := connect(t, sshdConfig(srv), ssh.ConnectOptions{})
	if got := runOutput(t, comm, "ssh-add -L"); !strings.Contains(got, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(strangerPub)))[:60]) {
		t.Errorf("ssh-add -L on the remote printed %q, want the forwarded agent's key", got)
	}
	cfg := sshdConfig(srv)
	cfg.DisableAgentForwarding = true
	comm = connect(t, cfg, ssh.ConnectOptions{})
	if err := comm.Run(context.Background(), cmd("ssh-add -L")); err == nil {
		t.Error("the agent was forwarded despite ssh_disable_agent_forwarding")
	}

	// Agent authentication: the agent now holds the client key.
	priv, err := readPrivate(srv.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	startAgent(t, priv)
	cfg = sshdConfig(srv)
	cfg.PrivateKeyFile = ""
	cfg.AgentAuth = true
	comm = connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo agent"); got != "agent\n" {
		t.Errorf("got %q", got)
	}
}

func TestCertificateLogin(t *testing.T) {
	_, caKey, _ := ed25519.GenerateKey(rand.Reader)
	ca, err := gossh.NewSignerFromKey(caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := sshtest.Start(t, sshtest.Options{UserCA: ca.PublicKey()})
	// A key the server does not know by itself, certified by the CA.
	_, userKey, _ := ed25519.GenerateKey(rand.Reader)
	userPub, _ := gossh.NewPublicKey(userKey.Public())
	cert := &gossh.Certificate{Key: userPub, CertType: gossh.UserCert, ValidPrincipals: []string{sshtest.User}, ValidBefore: gossh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	block, err := gossh.MarshalPrivateKey(userKey, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile, certFile := filepath.Join(dir, "id"), filepath.Join(dir, "id-cert.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, gossh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv)
	cfg.PrivateKeyFile = keyFile
	cfg.HandshakeAttempts = 1
	if _, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{}); err == nil {
		t.Fatal("the bare key logged in: the test proves nothing")
	}
	cfg.CertificateFile = certFile
	comm := connect(t, cfg, ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo cert"); got != "cert\n" {
		t.Errorf("got %q", got)
	}
}
