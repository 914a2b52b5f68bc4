package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/sshtest"
	"github.com/kilnhq/kiln/internal/testsshd"
)

// localProcs returns the local processes whose arguments are exactly args
// (the servers in these tests run on this machine).
func localProcs(t *testing.T, args ...string) []string {
	t.Helper()
	want := strings.Join(args, "\x00") + "\x00"
	files, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && string(b) == want {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}

// cancelRun runs command, cancels it once every one of the given sleep
// commands runs on this machine, and checks that Run returns the
// cancellation and that none of them is left afterwards.
func cancelRun(t *testing.T, comm communicator.Communicator, command string, sleeps ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- comm.Run(ctx, &communicator.Cmd{Command: command}) }()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		running := 0
		for _, s := range sleeps {
			running += min(len(localProcs(t, "sleep", s)), 1)
		}
		if running == len(sleeps) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the command %q never started", command)
		}
	}
	cancel()
	start := time.Now()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Run = %v, want context.Canceled", err)
		}
		if strings.Contains(err.Error(), "sleep") {
			t.Errorf("the error quotes the command: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of cancellation")
	}
	t.Logf("Run returned %s after cancel", time.Since(start).Round(time.Millisecond))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		var left []string
		for _, s := range sleeps {
			left = append(left, localProcs(t, "sleep", s)...)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes %v still run 5 s after the cancelled Run returned", left)
		}
	}
}

// sleepArg returns a sleep duration no other test uses, to find the
// process by.
func sleepArg() string { return fmt.Sprintf("%d", 300+rand.IntN(100000)) }

// OpenSSH refuses the signal request for a root login without privilege
// separation; the command is killed from a second session instead.
func TestSSHDCancelKillsCommand(t *testing.T) {
	srv := testsshd.Start(t, testsshd.Config("LogLevel DEBUG1"))
	comm := connect(t, sshdConfig(srv), ssh.ConnectOptions{})

	one := sleepArg()
	cancelRun(t, comm, "sleep "+one, one)

	// A script whose child runs in the background, and one whose child
	// runs in the foreground.
	dir := t.TempDir()
	script := filepath.Join(dir, "script.sh")
	bg, fg := sleepArg(), sleepArg()
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep "+bg+" &\nsleep "+fg+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cancelRun(t, comm, script, bg, fg)

	if srv.User == "root" && !strings.Contains(srv.Log(), "signalling requires privilege separation") {
		t.Error("sshd did not refuse the signal: the second-session kill was not tested")
	}
	// The connection still serves commands, and the kill left no file.
	if got := runOutput(t, comm, "echo still here"); got != "still here\n" {
		t.Errorf("after the cancellations: %q", got)
	}
	if left, _ := filepath.Glob("/tmp/*kiln-run*"); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestCancelKillsCommandInProcess(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	comm := connect(t, testConfig(srv), ssh.ConnectOptions{})
	a, b := sleepArg(), sleepArg()
	cancelRun(t, comm, "sleep "+a+" & sleep "+b, a, b)
}

// A cancelled command on a connection that no longer answers returns
// within the bound of the cancel path.
func TestCancelOnFrozenConnection(t *testing.T) {
	srv := sshtest.Start(t, sshtest.Options{})
	off := -time.Second
	cfg := testConfig(srv)
	cfg.KeepAliveInterval = &off
	comm := connect(t, cfg, ssh.ConnectOptions{})
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	arg := sleepArg()
	go func() { done <- comm.Run(ctx, &communicator.Cmd{Command: "sleep " + arg, Stdout: &out}) }()
	for deadline := time.Now().Add(20 * time.Second); len(localProcs(t, "sleep", arg)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the command never started")
		}
	}
	srv.Freeze()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Run = %v, want context.Canceled", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run on a frozen connection did not return within 20 s of cancellation")
	}
}

// What a command prints, its exit status and its stdin are the same with
// the mark the command carries.
func TestRunKeepsCommandSemantics(t *testing.T) {
	srv := testsshd.Start(t)
	comm := connect(t, sshdConfig(srv), ssh.ConnectOptions{})
	for _, tc := range []struct{ command, want string }{
		{"echo $#", "0\n"},
		{"echo end\\", "end\\\n"},
		{"cat <<EOF\nline\nEOF", "line\n"},
		{"echo a \\\n b", "a b\n"},
		{"echo 'trailing\\'", "trailing\\\n"},
		{"echo end # a comment", "end\n"},
		{"echo $LINENO", "1\n"},
	} {
		if got := runOutput(t, comm, tc.command); got != tc.want {
			t.Errorf("%q printed %q, want %q", tc.command, got, tc.want)
		}
	}
	var ee *communicator.ExitError
	if err := comm.Run(context.Background(), &communicator.Cmd{Command: "exit 7"}); !errors.As(err, &ee) || ee.Status != 7 {
		t.Errorf("exit 7: %v", err)
	}
	var out bytes.Buffer
	if err := comm.Run(context.Background(), &communicator.Cmd{Command: "tr a-z A-Z", Stdin: strings.NewReader("in\n"), Stdout: &out}); err != nil || out.String() != "IN\n" {
		t.Errorf("stdin: %v %q", err, out.String())
	}
}
