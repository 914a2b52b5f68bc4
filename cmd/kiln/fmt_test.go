//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFmtRefusesNamedPipe formats a directory holding a named pipe called
// b.pkr.hcl: kiln fmt must say what it is and go on with the other files,
// not block on opening it.
func TestFmtRefusesNamedPipe(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.pkr.hcl"), []byte("a=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "b.pkr.hcl"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	io := stdio{in: strings.NewReader(""), out: &out, errOut: &errOut, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() { done <- runFmt(context.Background(), []string{"-check", dir}, io) }()
	select {
	case code := <-done:
		if code != exitFailed {
			t.Errorf("exit %d, want %d", code, exitFailed)
		}
	case <-time.After(5 * time.Second): // a guard against the hang, not a timing assertion
		t.Fatal("kiln fmt blocked on the named pipe")
	}
	if want := "b.pkr.hcl is a named pipe, not a regular file"; !strings.Contains(errOut.String(), want) {
		t.Errorf("errors %q, want %q", errOut.String(), want)
	}
	if !strings.Contains(out.String(), "a.pkr.hcl") {
		t.Errorf("the unformatted file is not listed: %q", out.String())
	}
}
