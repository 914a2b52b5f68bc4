package event

import (
	"sync"
	"time"
)

// Event is implemented by every event type in this package. Kind names the
// event in the JSON stream ("step.started", "output", ...); it is stable.
type Event interface {
	Kind() string
	// EventMeta returns the common fields, so a sink or the engine can stamp
	// them. (It cannot be called Meta: the embedded Meta field would hide it.)
	EventMeta() *Meta
}

// Meta holds the fields every event carries.
type Meta struct {
	Time time.Time `json:"time"`
	// Build is the full name of the build that emitted the event
	// ("web.amazon-ebs.main"); empty for run-wide events.
	Build string `json:"build,omitempty"`
}

// EventMeta returns m itself; types that embed Meta get it for free.
func (m *Meta) EventMeta() *Meta { return m }

// A Sink receives events. Implementations must be safe for concurrent use:
// parallel builds emit from several goroutines.
type Sink interface {
	Emit(Event)
}

// SinkFunc adapts a function to a Sink.
type SinkFunc func(Event)

// Emit calls f(e).
func (f SinkFunc) Emit(e Event) { f(e) }

// Discard is a Sink that drops every event.
var Discard Sink = SinkFunc(func(Event) {})

// Serialize returns a Sink that delivers events to s one at a time, so that s
// itself need not be safe for concurrent use.
func Serialize(s Sink) Sink {
	var mu sync.Mutex
	return SinkFunc(func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		s.Emit(e)
	})
}

// ForBuild returns a Sink that stamps every event with the build name and,
// where it is zero, the current time, before passing it to s.
func ForBuild(s Sink, build string) Sink {
	return SinkFunc(func(e Event) {
		m := e.EventMeta()
		if m.Build == "" {
			m.Build = build
		}
		if m.Time.IsZero() {
			m.Time = time.Now()
		}
		s.Emit(e)
	})
}
