// Package progress turns bytes moving through an io.Reader or io.Writer into
// event.Progress events, throttled so a fast transfer does not flood the
// sink: at most one event per Interval, plus the first and the last.
//
// It sits in kiln's plumbing layer, used by provisioner/file and anything
// else that moves files.
package progress
