package clock

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	// An hour-long Sleep can only end early through its context.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sleep after cancel = %v, want context.Canceled", err)
	}
	cause := errors.New("stopped by the test")
	ctx, cancelCause := context.WithCancelCause(context.Background())
	cancelCause(cause)
	if err := Sleep(ctx, time.Hour); err != cause {
		t.Fatalf("Sleep under a context cancelled with a cause = %v, want the cause", err)
	}
}
