package ssh_test

import (
	"os"
	"strconv"

	gossh "golang.org/x/crypto/ssh"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/internal/sshtest"
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
