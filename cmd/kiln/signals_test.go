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

// TestWatchSignals sends SIGINT to the test process twice: the first must
// cancel the build's context, the second close the cleanup stop channel,
// each with a notice.
func TestWatchSignals(t *testing.T) {
	var mu sync.Mutex
	var notices []string
	notify := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, s)
	}
	ctx, stop, in := watchSignals(context.Background(), notify, stdio{errOut: &bytes.Buffer{}})
	defer stop()

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the first SIGINT did not cancel the context")
	}
	if !in.happened.Load() {
		t.Error("the interrupt was not recorded")
	}
	select {
	case <-in.stopCleanup:
		t.Fatal("the first SIGINT stopped cleanup")
	default:
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-in.stopCleanup:
	case <-time.After(5 * time.Second):
		t.Fatal("the second SIGINT did not stop cleanup")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(notices) != 2 || !strings.HasPrefix(notices[0], "Cancelling, cleaning up") || !strings.HasPrefix(notices[1], "Stopping cleanup") {
		t.Errorf("notices %q", notices)
	}
}
