// Package step runs a builder as a list of steps with typed state. Each step
// registers the undo of what it created before the next step runs; undo runs
// newest first under a fresh context with its own deadline, also after the
// build's context was cancelled, and emits events as it goes. The on-error
// Policy decides whether undo runs, is skipped (abort) or is asked about.
//
// It is plumbing shared by every builder.
package step
