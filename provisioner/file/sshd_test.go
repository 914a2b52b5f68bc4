package file

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// fileByFile hides a communicator's DirTransferer, so the provisioner's own
// tree walking (uploads) and tar stream (downloads) are used.
type fileByFile struct{ communicator.Communicator }

// TestSSHDTrees moves a file and a tree to and from a real OpenSSH sshd
// through kiln's SSH communicator, comparing checksums, with the
// communicator's directory transfer and without it.
func TestSSHDTrees(t *testing.T) {
	srv := testsshd.Start(t)
	cfg := &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
	// The communicator reports progress for its own transfers to the sink it
	// was given; the provisioner then reports none, so one upload is not
	// counted twice. fileByFile hides that, and the provisioner counts.
	commEvents := &eventtest.Recorder{}
	comm, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{Events: commEvents})
	if err != nil {
		t.Fatalf("connect to sshd: %v", err)
	}
	t.Cleanup(func() { comm.Close() })

	for name, c := range map[string]communicator.Communicator{"DirTransferer": comm, "file by file": fileByFile{comm}} {
		t.Run(name, func(t *testing.T) {
			src := filepath.Join(t.TempDir(), "tree")
			want := makeTree(t, src)

			// Upload: "tree" lands in dst/tree, "tree/" fills dst.
			remote := t.TempDir() // sshd runs here: remote paths are local
			provision(t, c, `
source = "`+src+`"
destination = "`+remote+`"
`)
			sameTree(t, "upload without slash", sums(t, filepath.Join(remote, "tree")), want)
			remote2 := filepath.Join(t.TempDir(), "new")
			provision(t, c, `
source = "`+src+`/"
destination = "`+remote2+`"
`)
			sameTree(t, "upload with slash", sums(t, remote2), want)

			// Download both ways.
			local := t.TempDir()
			provision(t, c, `
direction = "download"
source = "`+filepath.Join(remote, "tree")+`"
destination = "`+local+`"
`)
			sameTree(t, "download without slash", sums(t, filepath.Join(local, "tree")), want)
			local2 := t.TempDir()
			provision(t, c, `
direction = "download"
source = "`+remote2+`/"
destination = "`+local2+`"
`)
			sameTree(t, "download with slash", sums(t, local2), want)

			// A single file, up into a directory and back under a new name.
			data := make([]byte, 5<<20+7)
			rand.Read(data)
			file := filepath.Join(t.TempDir(), "blob.bin")
			os.WriteFile(file, data, 0o600)
			remote3 := t.TempDir()
			rec := provision(t, c, `
source = "`+file+`"
destination = "`+remote3+`/"
`)
			ps := eventtest.Of[*event.Progress](rec)
			if _, direct := c.(communicator.ProgressReporter); direct {
				if len(ps) != 0 {
					t.Errorf("provisioner reported %d progress events for a communicator that reports its own", len(ps))
				}
				ps = eventtest.Of[*event.Progress](commEvents)
			}
			if len(ps) < 2 || ps[len(ps)-1].Done != int64(len(data)) {
				t.Fatalf("progress events %d: %+v", len(ps), ps)
			}
			back := filepath.Join(t.TempDir(), "back.bin")
			provision(t, c, `
direction = "download"
source = "`+filepath.Join(remote3, "blob.bin")+`"
destination = "`+back+`"
`)
			got, err := os.ReadFile(back)
			if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
				t.Errorf("file round trip differs (err %v)", err)
			}
		})
	}
}
