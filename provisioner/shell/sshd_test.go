package shell

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// connectSSHD starts a real OpenSSH sshd and connects kiln's SSH
// communicator to it, verifying its host key.
func connectSSHD(t *testing.T) *ssh.Comm {
	t.Helper()
	srv := testsshd.Start(t)
	cfg := &ssh.Config{Host: srv.Host, Port: srv.Port, Username: srv.User, PrivateKeyFile: srv.ClientKeyFile, HostPublicKey: srv.HostKey}
	comm, err := ssh.Connect(context.Background(), cfg, ssh.ConnectOptions{Events: event.Discard})
	if err != nil {
		t.Fatalf("connect to sshd: %v\n%s", err, srv.Log())
	}
	t.Cleanup(func() { comm.Close() })
	return comm
}

func TestSSHDInlineAndScripts(t *testing.T) {
	comm := connectSSHD(t)
	remote := t.TempDir() // sshd runs on this machine: "remote" paths are local

	p := newProv(t, `
remote_folder = "`+remote+`"
inline = ["echo \"[$SPACES][$QUOTES][$MAP]\"", "printf '%s\\n' \"[$DOLLAR]\"", "echo to-stderr >&2"]
environment_vars = `+hclList("SPACES="+tricky["SPACES"], "QUOTES="+tricky["QUOTES"], "DOLLAR="+tricky["DOLLAR"])+`
env = { MAP = "a 'b' c" }
`)
	rec := &eventtest.Recorder{}
	if err := p.Provision(context.Background(), testEnv(rec), comm); err != nil {
		t.Fatal(err)
	}
	want := "[" + tricky["SPACES"] + "][" + tricky["QUOTES"] + "][a 'b' c]|[" + tricky["DOLLAR"] + "]"
	if got := strings.Join(rec.Lines("stdout"), "|"); got != want {
		t.Errorf("stdout = %q\nwant     %q", got, want)
	}
	if got := rec.Lines("stderr"); len(got) != 1 || got[0] != "to-stderr" {
		t.Errorf("stderr = %q", got)
	}

	dir := t.TempDir()
	script := filepath.Join(dir, "exit.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"code $CODE\"\nexit $CODE\n"), 0o644)
	for _, tc := range []struct {
		code, valid, wantErr string
	}{
		{"0", "", ""},
		{"2", "", "script " + script + ": exit status 2"},
		{"2", "valid_exit_codes = [0, 2]", ""},
	} {
		p := newProv(t, `
remote_folder = "`+remote+`"
script = "`+script+`"
environment_vars = ["CODE=`+tc.code+`"]
`+tc.valid)
		rec := &eventtest.Recorder{}
		err := p.Provision(context.Background(), testEnv(rec), comm)
		if (err == nil) != (tc.wantErr == "") || err != nil && err.Error() != tc.wantErr {
			t.Errorf("exit %s %s: err = %v, want %q", tc.code, tc.valid, err, tc.wantErr)
		}
		if got := strings.Join(rec.Lines("stdout"), "|"); got != "code "+tc.code {
			t.Errorf("exit %s: stdout = %q", tc.code, got)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 0 {
		t.Errorf("scripts left on the machine: %v", left)
	}
}

// killOwnConnection is a script line that kills the sshd process serving
// its own connection (the nearest sshd ancestor), as a reboot would drop it.
const killOwnConnection = `p=$$; while [ "$p" -gt 1 ]; do c=$(cat /proc/$p/comm); case "$c" in sshd*) kill -9 "$p"; break;; esac; p=$(cut -d' ' -f4 /proc/$p/stat); done; sleep 5`

func TestSSHDExpectDisconnect(t *testing.T) {
	comm := connectSSHD(t)
	remote := t.TempDir()
	marker := filepath.Join(remote, "ran")
	src := `
remote_folder = "` + remote + `"
inline = ["touch ` + marker + `", ` + hclList(killOwnConnection)[1:len(hclList(killOwnConnection))-1] + `]
`
	err := newProv(t, src).Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm)
	if err == nil || !strings.Contains(err.Error(), "expect_disconnect") {
		t.Fatalf("unexpected disconnect: err = %v, want a hint at expect_disconnect", err)
	}
	// That failure leaves the script behind, as Packer's does: start clean.
	if err := os.RemoveAll(remote); err != nil || os.Mkdir(remote, 0o700) != nil {
		t.Fatal(err)
	}

	if err := newProv(t, src+"expect_disconnect = true\n").Provision(context.Background(), testEnv(&eventtest.Recorder{}), comm); err != nil {
		t.Fatalf("expected disconnect: %v", err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Errorf("the script did not run: %v", err)
	}
	// Cleanup ran over a new connection: only the marker is left.
	if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 1 {
		t.Errorf("files on the machine: %v, want only the marker", left)
	}
	// And the communicator works afterwards.
	rec := &eventtest.Recorder{}
	if err := newProv(t, `inline = ["echo again"]`).Provision(context.Background(), testEnv(rec), comm); err != nil || strings.Join(rec.Lines("stdout"), "") != "again" {
		t.Fatalf("after the disconnect: %v %q", err, rec.Lines("stdout"))
	}
}

func TestSSHDCancelRemovesScript(t *testing.T) {
	comm := connectSSHD(t)
	remote := t.TempDir()
	// A duration no other process uses, to find the sleep by.
	arg := fmt.Sprintf("%d", 300+rand.IntN(100000))
	p := newProv(t, `
remote_folder = "`+remote+`"
inline = ["sleep `+arg+`"]
environment_vars = ["TOKEN=s3cret"]
`)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := p.Provision(ctx, testEnv(&eventtest.Recorder{}), comm)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if want := "inline script cancelled: context deadline exceeded"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if left, _ := filepath.Glob(filepath.Join(remote, "*")); len(left) != 0 {
		t.Errorf("script left behind after cancel: %v", left)
	}
	// sshd runs here: its processes are this machine's.
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, _ := os.ReadFile(f); string(b) == "sleep\x00"+arg+"\x00" {
			t.Errorf("the cancelled script's sleep still runs: %s", f)
		}
	}
}
