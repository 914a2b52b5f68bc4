package ssh_test

import (
	"os"
	"strconv"
	"testing"

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
