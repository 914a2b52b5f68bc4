package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestWatchSignals sends each interrupt signal to the test process twice:
// the first must cancel the build's context, the second close the cleanup
// stop channel, each with a notice. SIGHUP (the terminal closed) is an
// interrupt like SIGINT.
func TestWatchSignals(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) { testWatchSignals(t, sig) })
	}
}

func testWatchSignals(t *testing.T, sig syscall.Signal) {
	var mu sync.Mutex
	var notices []string
	notify := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, s)
	}
	ctx, stop, in := watchSignals(context.Background(), notify, stdio{errOut: &bytes.Buffer{}})
	defer stop()

	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatalf("the first %v did not cancel the context", sig)
	}
	if !in.happened.Load() {
		t.Error("the interrupt was not recorded")
	}
	select {
	case <-in.stopCleanup:
		t.Fatalf("the first %v stopped cleanup", sig)
	default:
	}

	if err := syscall.Kill(os.Getpid(), sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.stopCleanup:
	case <-time.After(5 * time.Second):
		t.Fatalf("the second %v did not stop cleanup", sig)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 2 || !strings.HasPrefix(notices[0], "Cancelling, cleaning up") || !strings.HasPrefix(notices[1], "Stopping cleanup") {
		t.Errorf("notices %q", notices)
	}
}
