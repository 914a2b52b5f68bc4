package progress

import (
	"io"
	"sync"
	"time"

	"github.com/kilnhq/kiln/event"
)

// Interval is the shortest time between two progress events of one task.
const Interval = 100 * time.Millisecond

// now tells the time; tests set it to a clock they move themselves.
var now = time.Now

// Counter counts the bytes of one task and emits event.Progress for them.
// It is safe for concurrent use.
type Counter struct {
	sink  event.Sink
	task  string
	total int64

	mu       sync.Mutex
	done     int64
	last     time.Time
	reported int64 // done at the last event; -1 before the first
}

// NewCounter returns a Counter for task with total bytes (-1 if unknown).
func NewCounter(sink event.Sink, task string, total int64) *Counter {
	return &Counter{sink: sink, task: task, total: total, reported: -1}
}

// Add counts n more bytes, emitting an event if Interval has passed since
// the last one or the total is reached.
func (c *Counter) Add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done += int64(n)
	t := now()
	if c.reported < 0 || t.Sub(c.last) >= Interval || c.done == c.total {
		c.emit(t)
	}
}

// Finish emits the final count, unless it was the last one emitted. A
// transfer of unknown size reports its total as what was done.
func (c *Counter) Finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total < 0 {
		c.total = c.done
	}
	if c.reported != c.done || c.reported < 0 {
		c.emit(now())
	}
}

func (c *Counter) emit(t time.Time) {
	c.last = t
	c.reported = c.done
	c.sink.Emit(&event.Progress{Task: c.task, Done: c.done, Total: c.total, Unit: "bytes"})
}

// Reader counts the bytes read through it.
type Reader struct {
	R io.Reader
	C *Counter
}

// Read reads from R and counts what it got.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.R.Read(p)
	if n > 0 {
		r.C.Add(n)
	}
	return n, err
}

// Writer counts the bytes written through it.
type Writer struct {
	W io.Writer
	C *Counter
}

// Write writes to W and counts what it took.
func (w *Writer) Write(p []byte) (int, error) {
	n, err := w.W.Write(p)
	if n > 0 {
		w.C.Add(n)
	}
	return n, err
}
