package awsutil

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/internal/clock"
)

// Polling defaults. Waits start polling quickly and grow the delay up to
// MaxPollDelay, so readiness is noticed within seconds however long the wait.
const (
	FirstPollDelay = 500 * time.Millisecond
	MaxPollDelay   = 5 * time.Second
)

// Poll reports a resource's current state and whether it is the one waited
// for. A non-nil error ends the wait (use it for terminal states such as a
// failed image); a resource not visible yet is a state, not an error.
type Poll func(ctx context.Context) (state string, done bool, err error)

// Waiter says how to poll. The zero value polls with a growing delay (from
// FirstPollDelay up to MaxPollDelay) and never gives up before ctx does.
type Waiter struct {
	// Delay, when set, is a fixed delay between polls (aws_polling).
	Delay time.Duration
	// First and Max override FirstPollDelay and MaxPollDelay.
	First, Max time.Duration
	// Timeout bounds the whole wait; 0 means no bound but ctx.
	Timeout time.Duration
	// OnState, when set, is told each state the resource enters, so a
	// long wait can be shown as it goes.
	OnState func(what, state string, waited time.Duration)
	// Sleep, when set, replaces clock.Sleep between polls (tests record
	// the delays instead of waiting them out).
	Sleep func(ctx context.Context, d time.Duration) error
}

// TimeoutError reports a wait that gave up: which resource, the state it was
// left in, and the state that was wanted. Callers that clean up add what they
// removed.
type TimeoutError struct {
	What   string // "image ami-0abc in eu-west-1"
	Want   string // "available"
	State  string // the last state seen
	Waited time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("%s: still %q after %s waiting for %q", e.What, e.State, e.Waited.Round(time.Second), e.Want)
}

// Wait polls until poll says done, poll fails, ctx ends or the Waiter's
// Timeout passes (a *TimeoutError). what names the resource in errors.
func (w Waiter) Wait(ctx context.Context, what, want string, poll Poll) error {
	start := time.Now()
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	delay, maxDelay := w.First, w.Max
	if delay <= 0 {
		delay = FirstPollDelay
	}
	if maxDelay <= 0 {
		maxDelay = MaxPollDelay
	}
	if w.Delay > 0 {
		delay, maxDelay = w.Delay, w.Delay
	}
	sleep := w.Sleep
	if sleep == nil {
		sleep = clock.Sleep
	}
	state := "unknown"
	for {
		s, done, err := poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return w.ended(ctx, what, want, state, start)
			}
			return fmt.Errorf("wait for %s to be %s: %w", what, want, err)
		}
		if s != state && w.OnState != nil {
			w.OnState(what, s, time.Since(start))
		}
		state = s
		if done {
			return nil
		}
		if sleep(ctx, delay) != nil {
			return w.ended(ctx, what, want, state, start)
		}
		delay = min(delay*3/2, maxDelay)
	}
}

// ended is the error for a wait whose ctx ended: a TimeoutError when the
// Waiter's own deadline passed, else the caller's cancellation.
func (w Waiter) ended(ctx context.Context, what, want, state string, start time.Time) error {
	if w.Timeout > 0 && ctx.Err() == context.DeadlineExceeded && time.Since(start) >= w.Timeout {
		return &TimeoutError{What: what, Want: want, State: state, Waited: time.Since(start)}
	}
	return fmt.Errorf("wait for %s to be %s (last %q): %w", what, want, state, context.Cause(ctx))
}
