package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/step"
)

func TestTTYAsker(t *testing.T) {
	var out bytes.Buffer
	paused, resumed := 0, 0
	a := newTTYAsker(strings.NewReader("what\nR\nabort\n"), &out, func() func() {
		paused++
		return func() { resumed++ }
	})
	c, err := a.Ask(context.Background(), "provision", errors.New("exit status 2"))
	if err != nil || c != step.ChooseRetry {
		t.Fatalf("Ask = %v, %v; want retry", c, err)
	}
	if n := strings.Count(out.String(), "[c] Clean up"); n != 2 {
		t.Errorf("asked %d times, want 2 (an unknown answer asks again):\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), `Step "provision" failed: exit status 2`) {
		t.Errorf("the question does not say what failed:\n%s", out.String())
	}
	if c, _ := a.Ask(context.Background(), "provision", errors.New("x")); c != step.ChooseAbort {
		t.Errorf("second answer %v, want abort", c)
	}
	if _, err := a.Ask(context.Background(), "provision", errors.New("x")); err == nil {
		t.Errorf("no error when standard input is closed")
	}
	if paused != 3 || resumed != 3 {
		t.Errorf("paused %d and resumed %d times, want 3 each", paused, resumed)
	}
}

func TestTTYAskerCancelled(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	a := newTTYAsker(blockingReader(block), &bytes.Buffer{}, func() func() { return func() {} })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	c, err := a.Ask(ctx, "s", errors.New("x"))
	if c != step.ChooseCleanup || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Ask on a cancelled context = %v, %v; want cleanup and the context's error", c, err)
	}
}

// blockingReader blocks until its channel is closed, as a terminal nobody
// types on does.
type blockingReader chan struct{}

func (b blockingReader) Read([]byte) (int, error) {
	<-b
	return 0, errors.New("closed")
}
