package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/commtest"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/sshtest"
)

// testConfig returns a config that logs in to srv and verifies the host key
// srv is meant to have.
func testConfig(srv *sshtest.Server) *ssh.Config {
	return &ssh.Config{Host: srv.Host, Port: srv.Port, Username: sshtest.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKeyLine}
}

func TestConformanceInProcess(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	for _, method := range []string{ssh.MethodSFTP, ssh.MethodSCP} {
		t.Run(method, func(t *testing.T) {
			needTransferTool(t, method)
			commtest.Run(t, func(t *testing.T) communicator.Communicator {
				cfg := testConfig(srv)
				cfg.FileTransferMethod = method
				return connect(t, cfg, ssh.ConnectOptions{})
			})
		})
	}
}

func TestWrongHostKeyRefused(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{WrongHostKey: true})
	for name, tc := range map[string]struct {
		cfg  *ssh.Config
		opts ssh.ConnectOptions
	}{
		"builder key":         {&ssh.Config{Host: srv.Host, Port: srv.Port, Username: sshtest.User, PrivateKeyFile: srv.ClientKeyFile}, ssh.ConnectOptions{HostKey: srv.HostKey}},
		"ssh_host_public_key": {testConfig(srv), ssh.ConnectOptions{}},
	} {
		t.Run(name, func(t *testing.T) {
			// A mismatch must end Connect by itself, not be retried: with
			// an ssh_timeout far off, only the safety deadline could end a
			// retrying Connect, and it would report that deadline.
			tc.cfg.Timeout = time.Hour
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := ssh.Connect(ctx, tc.cfg, tc.opts)
			var hke *ssh.HostKeyError
			if !errors.As(err, &hke) || ctx.Err() != nil {
				t.Fatalf("Connect = %v (deadline: %v), want a *ssh.HostKeyError before any deadline", err, ctx.Err())
			}
			if hke.Want[0] != fingerprint(srv) || hke.Got == hke.Want[0] || !strings.Contains(err.Error(), hke.Got) {
				t.Errorf("error %q does not name the expected %s and a different presented key", err, fingerprint(srv))
			}
			if srv.Logins() != 0 {
				t.Errorf("%d logins happened despite the wrong host key", srv.Logins())
			}
		})
	}
}

func TestKnownHostsFile(t *testing.T) {
	good := sshtest.Start(t, sshtest.Options{})
	bad := sshtest.Start(t, sshtest.Options{WrongHostKey: true})
	file := t.TempDir() + "/known_hosts"
	lines := "[127.0.0.1]:" + itoa(good.Port) + " " + good.HostKeyLine + "\n[127.0.0.1]:" + itoa(bad.Port) + " " + bad.HostKeyLine + "\n"
	if err := writeFile(file, lines); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.Config{Host: good.Host, Port: good.Port, Username: sshtest.User, PrivateKeyFile: good.ClientKeyFile, KnownHostsFile: file}
	connect(t, cfg, ssh.ConnectOptions{})
	cfg.Port = bad.Port
	cfg.PrivateKeyFile = bad.ClientKeyFile
	_, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{})
	var hke *ssh.HostKeyError
	if !errors.As(err, &hke) {
		t.Fatalf("Connect to a server whose key is not in known_hosts = %v, want *ssh.HostKeyError", err)
	}
}

func TestNoHostKeyPolicy(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	cfg := testConfig(srv)
	cfg.HostPublicKey = ""
	if _, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{}); err == nil || !strings.Contains(err.Error(), "ssh_host_key_check") {
		t.Fatalf("Connect without any host key = %v, want a refusal naming ssh_host_key_check", err)
	}
	off := false
	cfg.HostKeyCheck = &off
	rec := &eventtest.Recorder{}
	connect(t, cfg, ssh.ConnectOptions{Events: rec})
	if !slices.ContainsFunc(rec.Messages(event.Warn), func(m string) bool { return strings.Contains(m, "not be verified") }) {
		t.Errorf("ssh_host_key_check = false connected without a warning event: %q", rec.Messages())
	}
}

func TestAuthFailureMessage(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{RejectAuth: true, Password: "pw"})
	cfg := testConfig(srv)
	cfg.Password = "wrong"
	cfg.HandshakeAttempts = 2
	_, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{Signer: srv.ClientSigner})
	var ae *ssh.AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("Connect = %v, want *ssh.AuthError", err)
	}
	msg := err.Error()
	for _, want := range []string{`"kiln"`, "SHA256:", "builder key", srv.ClientKeyFile, "password", "publickey", "refused 2 times"} {
		if !strings.Contains(msg, want) {
			t.Errorf("auth error %q does not mention %q", msg, want)
		}
	}
}

func TestSilentServerTimesOut(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{Silent: true})
	cfg := testConfig(srv)
	cfg.WaitTimeout = 3 * time.Second // Packer's older name for ssh_timeout
	// The deadline is a safety net far beyond ssh_timeout: the error must
	// come from the 3 s ssh_timeout, before it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := ssh.Connect(ctx, cfg, ssh.ConnectOptions{})
	if err == nil {
		t.Fatal("Connect to a silent server succeeded")
	}
	if !strings.Contains(err.Error(), "no SSH banner") || !strings.Contains(err.Error(), "within ssh_timeout (3s") || ctx.Err() != nil {
		t.Errorf("error %q (deadline: %v) does not say the server never answered within the 3 s ssh_timeout", err, ctx.Err())
	}
}

func TestReadinessAfterSilence(t *testing.T) {
	// Like a NAT port forward: connections are accepted at once but only
	// answered once the machine is up.
	srv := sshtest.Start(t, sshtest.Options{ReadyAfter: 3 * time.Second})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	if got := runOutput(t, comm, "echo up"); got != "up\n" {
		t.Errorf("got %q", got)
	}
}

func TestDroppedMidCommand(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- comm.Run(context.Background(), &communicator.Cmd{Command: "echo started; sleep 30; echo finished", Stdout: pw})
		pw.Close()
	}()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(pr, buf); err != nil || string(buf) != "started\n" {
		t.Fatalf("command output %q, %v", buf, err)
	}
	go io.Copy(io.Discard, pr)
	srv.Drop()
	select {
	case err := <-done:
		if !errors.Is(err, communicator.ErrDisconnected) {
			t.Fatalf("Run after the connection dropped = %v, want ErrDisconnected", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not notice the dropped connection within 15 s")
	}
	// The next call reconnects.
	if got := runOutput(t, comm, "echo again"); got != "again\n" {
		t.Errorf("after reconnect: %q", got)
	}
	if srv.Logins() != 2 {
		t.Errorf("logins = %d, want 2 (one reconnect)", srv.Logins())
	}
}

func TestDroppedMidUpload(t *testing.T) {
	data := make([]byte, 8<<20)
	rand.Read(data)
	for _, tc := range []struct {
		name    string
		method  string
		reader  func(srv *sshtest.Server) io.Reader
		resumes bool
	}{
		// SFTP continues a seekable source from the last acknowledged byte.
		{"sftp seekable", ssh.MethodSFTP, func(*sshtest.Server) io.Reader { return bytes.NewReader(data) }, true},
		{"sftp stream", ssh.MethodSFTP, func(*sshtest.Server) io.Reader { return io.MultiReader(bytes.NewReader(data)) }, false},
		// scp is a command: cut it with Drop once data flows.
		{"scp", ssh.MethodSCP, func(srv *sshtest.Server) io.Reader {
			return &dropAt{r: bytes.NewReader(data), at: 1 << 20, drop: srv.Drop}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			needTransferTool(t, tc.method)
			srv := sshtest.Start(t, sshtest.Options{DropAfter: 3 << 20})
			cfg := testConfig(srv)
			cfg.FileTransferMethod = tc.method
			rec := &eventtest.Recorder{}
			comm := connect(t, cfg, ssh.ConnectOptions{Events: rec})
			dst := t.TempDir() + "/upload"
			err := comm.Upload(context.Background(), dst, tc.reader(srv), int64(len(data)), 0o644)
			if tc.resumes {
				if err != nil {
					t.Fatalf("Upload did not continue after the lost connection: %v", err)
				}
				got, rerr := os.ReadFile(dst)
				if rerr != nil || !bytes.Equal(got, data) {
					t.Fatalf("the continued upload left %d bytes that differ from the %d sent (%v)", len(got), len(data), rerr)
				}
				warnings := rec.Messages(event.Warn)
				t.Logf("warnings: %q", warnings)
				if srv.Logins() != 2 || len(warnings) != 1 || !strings.Contains(warnings[0], "connection lost after") {
					t.Errorf("logins = %d, warnings = %q; want one reconnect, announced", srv.Logins(), warnings)
				}
				return
			}
			if err == nil {
				t.Fatal("Upload succeeded although the connection was cut")
			}
			if !errors.Is(err, communicator.ErrDisconnected) {
				t.Errorf("Upload = %v, want an error wrapping ErrDisconnected", err)
			}
			// The next upload reconnects and succeeds.
			if err := comm.Upload(context.Background(), dst, bytes.NewReader([]byte("ok")), 2, 0o644); err != nil {
				t.Fatalf("Upload after reconnect: %v", err)
			}
		})
	}
}

// dropAt calls drop once at bytes have been read.
type dropAt struct {
	r    io.Reader
	at   int
	n    int
	once sync.Once
	drop func()
}

func (d *dropAt) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += n
	if d.n >= d.at {
		d.once.Do(d.drop)
	}
	return n, err
}

func TestReconnect(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	if err := comm.Reconnect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := runOutput(t, comm, "echo x"); got != "x\n" {
		t.Errorf("got %q", got)
	}
	if srv.Logins() != 2 {
		t.Errorf("logins = %d after Reconnect, want 2", srv.Logins())
	}
}

func TestClosedComm(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	comm.Close()
	if err := comm.Run(context.Background(), &communicator.Cmd{Command: "true"}); err == nil {
		t.Fatal("Run after Close succeeded")
	}
}

func runOutput(t *testing.T, comm *ssh.Comm, command string) string {
	t.Helper()
	var out bytes.Buffer
	if err := comm.Run(context.Background(), &communicator.Cmd{Command: command, Stdout: &out}); err != nil {
		t.Fatalf("run %q: %v", command, err)
	}
	return out.String()
}

// A machine that vanishes without a reset is noticed by keepalives, or by
// ssh_read_write_timeout when keepalives are off.
func TestFrozenServer(t *testing.T) {
	short, off := 200*time.Millisecond, -time.Second
	for name, mod := range map[string]func(*ssh.Config){
		"keepalive":          func(c *ssh.Config) { c.KeepAliveInterval = &short },
		"read_write_timeout": func(c *ssh.Config) { c.KeepAliveInterval = &off; c.ReadWriteTimeout = 500 * time.Millisecond },
	} {
		t.Run(name, func(t *testing.T) {
			srv := sshtest.Start(t, sshtest.Options{})
			cfg := testConfig(srv)
			cfg.Timeout = 2 * time.Second
			mod(cfg)
			comm := connect(t, cfg, ssh.ConnectOptions{})
			done := runLong(t, comm)
			srv.Freeze()
			wantDisconnected(t, done, 20*time.Second, "a frozen server")
			// Reconnecting to the frozen server fails within ssh_timeout.
			if err := comm.Run(context.Background(), &communicator.Cmd{Command: "true"}); err == nil || !strings.Contains(err.Error(), "ssh_timeout") {
				t.Errorf("Run after the freeze = %v, want a timeout naming ssh_timeout", err)
			}
		})
	}
}

// Transfers report progress that ends at their size.
func TestProgressEvents(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	for _, method := range []string{ssh.MethodSFTP, ssh.MethodSCP} {
		t.Run(method, func(t *testing.T) {
			needTransferTool(t, method)
			rec := &eventtest.Recorder{}
			cfg := testConfig(srv)
			cfg.FileTransferMethod = method
			comm := connect(t, cfg, ssh.ConnectOptions{Events: rec})
			var c communicator.Communicator = comm
			if pr, ok := c.(communicator.ProgressReporter); !ok || !pr.ReportsProgress() {
				t.Error("a Comm with an event sink does not say it reports progress")
			}
			dst := t.TempDir() + "/f"
			data := bytes.Repeat([]byte("x"), 1<<20)
			if err := comm.Upload(context.Background(), dst, bytes.NewReader(data), int64(len(data)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := comm.Download(context.Background(), dst, io.Discard); err != nil {
				t.Fatal(err)
			}
			last := map[string]*event.Progress{}
			for _, p := range eventtest.Of[*event.Progress](rec) {
				last[p.Task] = p
			}
			for _, task := range []string{"upload " + dst, "download " + dst} {
				p := last[task]
				if p == nil || p.Done != int64(len(data)) || p.Total != int64(len(data)) || p.Unit != "bytes" {
					t.Errorf("last progress of %q = %+v, want %d of %d bytes", task, p, len(data), len(data))
				}
			}
		})
	}
}

// A connection lost between two calls, noticed or not yet, is replaced by
// the next call: nothing had run on it.
func TestLostBetweenCalls(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{Events: event.Discard})
	for i := range 20 {
		srv.Drop()
		if got := runOutput(t, comm, "echo ok"); got != "ok\n" {
			t.Fatalf("round %d: %q", i, got)
		}
		srv.Drop()
		if err := comm.Upload(context.Background(), t.TempDir()+"/f", strings.NewReader("x"), 1, 0o644); err != nil {
			t.Fatalf("round %d: Upload: %v", i, err)
		}
	}
}

// A key marked @revoked in known_hosts is refused on the first attempt: no
// retry can make it acceptable.
func TestRevokedHostKeyIsFinal(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	file := t.TempDir() + "/known_hosts"
	lines := "@revoked * " + srv.HostKeyLine + "\n[127.0.0.1]:" + itoa(srv.Port) + " " + srv.HostKeyLine + "\n"
	if err := writeFile(file, lines); err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.Config{Host: srv.Host, Port: srv.Port, Username: sshtest.User, PrivateKeyFile: srv.ClientKeyFile,
		KnownHostsFile: file, Timeout: 3 * time.Second}
	_, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{})
	var hke *ssh.HostKeyError
	if !errors.As(err, &hke) || hke.Revoked == "" {
		t.Fatalf("Connect to a server with a revoked key = %v, want a *ssh.HostKeyError with Revoked set", err)
	}
	if !strings.Contains(err.Error(), "revoked") || !strings.Contains(err.Error(), hke.Got) || !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not say the key %s is revoked by %s", err, hke.Got, file)
	}
	if n := srv.Accepted(); n != 1 {
		t.Errorf("a revoked host key was tried %d times, want 1", n)
	}
	if srv.Logins() != 0 {
		t.Errorf("%d logins happened despite the revoked host key", srv.Logins())
	}
}
