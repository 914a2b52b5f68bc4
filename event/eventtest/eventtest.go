package eventtest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/kilnhq/kiln/event"
)

// Recorder is an event.Sink that keeps every event in the order it arrived.
// The zero value is ready to use; it is safe for concurrent use.
type Recorder struct {
	// Logf, when set, is given each event but progress as its JSON line
	// (pass t.Logf to see a build's events in the test log).
	Logf func(format string, args ...any)

	mu     sync.Mutex
	events []event.Event
	// arrived is closed and cleared by the next Emit; waiters make it.
	arrived chan struct{}
}

var _ event.Sink = (*Recorder)(nil)

// Emit records e.
func (r *Recorder) Emit(e event.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	if r.arrived != nil {
		close(r.arrived)
		r.arrived = nil
	}
	r.mu.Unlock()
	if r.Logf != nil && e.Kind() != "progress" {
		if b, err := event.MarshalJSON(e); err == nil {
			r.Logf("%s", b)
		}
	}
}

// Events returns a copy of every event recorded so far.
func (r *Recorder) Events() []event.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// Of returns the events of type T recorded so far (T is a pointer type
// such as *event.Output).
func Of[T event.Event](r *Recorder) []T {
	var out []T
	for _, e := range r.Events() {
		if t, ok := e.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Kinds returns the kind of every event recorded so far, or only those of
// the kinds given.
func (r *Recorder) Kinds(only ...string) []string {
	var out []string
	for _, e := range r.Events() {
		if len(only) == 0 || slices.Contains(only, e.Kind()) {
			out = append(out, e.Kind())
		}
	}
	return out
}

// Messages returns the text of every message, or only of those at the
// levels given.
func (r *Recorder) Messages(levels ...event.Level) []string {
	var out []string
	for _, m := range Of[*event.Message](r) {
		if len(levels) == 0 || slices.Contains(levels, m.Level) {
			out = append(out, m.Text)
		}
	}
	return out
}

// Lines returns every output line, or only those of the streams given
// ("stdout", "stderr").
func (r *Recorder) Lines(streams ...string) []string {
	var out []string
	for _, o := range Of[*event.Output](r) {
		if len(streams) == 0 || slices.Contains(streams, o.Stream) {
			out = append(out, o.Line)
		}
	}
	return out
}

// Texts returns the text of every message and every output line, in the
// order they arrived: what a person reading the build would see.
func (r *Recorder) Texts() []string {
	var out []string
	for _, e := range r.Events() {
		switch e := e.(type) {
		case *event.Message:
			out = append(out, e.Text)
		case *event.Output:
			out = append(out, e.Line)
		}
	}
	return out
}

// Wait returns the first event, recorded before the call or after it, for
// which match is true. It gives up when ctx ends, with an error that says
// how many events it looked at; give ctx a deadline so a test that goes
// wrong fails instead of hanging.
func (r *Recorder) Wait(ctx context.Context, match func(event.Event) bool) (event.Event, error) {
	seen := 0
	for {
		r.mu.Lock()
		fresh := r.events[seen:len(r.events):len(r.events)]
		if r.arrived == nil {
			r.arrived = make(chan struct{})
		}
		arrived := r.arrived
		r.mu.Unlock()
		// match runs without the lock: it may look at the Recorder.
		for _, e := range fresh {
			if match(e) {
				return e, nil
			}
		}
		seen += len(fresh)
		select {
		case <-arrived:
		case <-ctx.Done():
			return nil, fmt.Errorf("eventtest: none of %d events matched: %w", seen, context.Cause(ctx))
		}
	}
}

// Message returns a match for Wait: a message whose text is text.
func Message(text string) func(event.Event) bool {
	return func(e event.Event) bool {
		m, ok := e.(*event.Message)
		return ok && m.Text == text
	}
}

// Line returns a match for Wait: an output line equal to line.
func Line(line string) func(event.Event) bool {
	return func(e event.Event) bool {
		o, ok := e.(*event.Output)
		return ok && o.Line == line
	}
}
