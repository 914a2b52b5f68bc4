// Package clock holds the one way kiln waits: a sleep that ends early when
// its context does. Retry loops, pauses and pollers all use it.
package clock

import (
	"context"
	"time"
)

// Sleep waits for d, or until ctx is done, in which case it returns the
// context's cause (its error when no cause was given).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
