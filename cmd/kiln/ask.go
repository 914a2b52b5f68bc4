package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/kilnhq/kiln/step"
)

// ttyAsker asks on the terminal what to do after a step failed
// (-on-error=ask). Questions from parallel builds are asked one at a time.
type ttyAsker struct {
	mu    sync.Mutex
	out   io.Writer
	pause func() (resume func()) // stops progress drawing while asking
	lines <-chan string
}

// newTTYAsker reads answers from in. The reading goroutine lives as long as
// the process: a read from a terminal cannot be interrupted.
func newTTYAsker(in io.Reader, out io.Writer, pause func() func()) *ttyAsker {
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return &ttyAsker{out: out, pause: pause, lines: lines}
}

// Ask implements step.Asker.
func (a *ttyAsker) Ask(ctx context.Context, stepName string, err error) (step.Choice, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	resume := a.pause()
	defer resume()
	fmt.Fprintf(a.out, "\nStep %q failed: %v\n", stepName, err)
	for {
		fmt.Fprint(a.out, "[c] Clean up and stop, [a] Abort and leave everything as it is, [r] Retry the step? ")
		select {
		case <-ctx.Done():
			fmt.Fprintln(a.out)
			return step.ChooseCleanup, ctx.Err()
		case l, ok := <-a.lines:
			if !ok {
				fmt.Fprintln(a.out)
				return step.ChooseCleanup, fmt.Errorf("standard input closed")
			}
			switch strings.ToLower(strings.TrimSpace(l)) {
			case "c", "cleanup", "clean up":
				return step.ChooseCleanup, nil
			case "a", "abort":
				return step.ChooseAbort, nil
			case "r", "retry":
				return step.ChooseRetry, nil
			}
		}
	}
}
