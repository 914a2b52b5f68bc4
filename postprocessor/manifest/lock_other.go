//go:build !unix

package manifest

import "context"

// lockFile does nothing where flock is not available: the in-process lock
// still serialises the builds of one kiln run.
func lockFile(context.Context, string) (func(), error) { return func() {}, nil }
