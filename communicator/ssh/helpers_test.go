package ssh_test

import (
	"context"
	"errors"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/sshtest"
	"github.com/kilnhq/kiln/internal/testenv"
)

func itoa(i int) string { return strconv.Itoa(i) }

func writeFile(name, s string) error { return os.WriteFile(name, []byte(s), 0o600) }

func fingerprint(srv *sshtest.Server) string { return gossh.FingerprintSHA256(srv.HostKey) }

func cmd(s string) *communicator.Cmd { return &communicator.Cmd{Command: s} }

func readPrivate(file string) (any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return gossh.ParseRawPrivateKey(b)
}

// needTransferTool checks that the in-process server can serve method: its
// scp runs the local scp program.
func needTransferTool(t *testing.T, method string) {
	if method == ssh.MethodSCP {
		testenv.Tool(t, "scp")
	}
}

// runLong starts a command that runs for 30 s and returns once it has
// started, with the channel its Run result arrives on.
func runLong(t *testing.T, comm communicator.Communicator) <-chan error {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- comm.Run(context.Background(), &communicator.Cmd{Command: "echo started; sleep 30", Stdout: pw})
		pw.Close()
	}()
	buf := make([]byte, 8)
	if _, err := io.ReadFull(pr, buf); err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	return done
}

// wantDisconnected fails the test unless done reports a lost connection
// within d; what names the fault in messages.
func wantDisconnected(t *testing.T, done <-chan error, d time.Duration, what string) {
	t.Helper()
	select {
	case err := <-done:
		if !errors.Is(err, communicator.ErrDisconnected) {
			t.Fatalf("Run under %s = %v, want ErrDisconnected", what, err)
		}
	case <-time.After(d):
		t.Fatalf("Run did not notice %s within %s", what, d)
	}
}
