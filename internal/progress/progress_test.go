package progress

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// stepClock makes now return a time that moves by step at each call, and
// puts time.Now back when the test ends.
func stepClock(t *testing.T, step time.Duration) {
	t0 := time.Unix(1767225600, 0)
	now = func() time.Time {
		t0 = t0.Add(step)
		return t0
	}
	t.Cleanup(func() { now = time.Now })
}

// Reads while the clock stands still: the first and the last are
// reported, nothing between.
func TestThrottledFirstAndLast(t *testing.T) {
	stepClock(t, 0)
	sink := &eventtest.Recorder{}
	const size = 10 << 20
	c := NewCounter(sink, "upload x", size)
	n, err := io.CopyBuffer(io.Discard, &Reader{R: bytes.NewReader(make([]byte, size)), C: c}, make([]byte, 512))
	if err != nil || n != size {
		t.Fatal(n, err)
	}
	c.Finish()
	evs := eventtest.Of[*event.Progress](sink)
	if len(evs) != 2 || len(sink.Events()) != 2 {
		t.Fatalf("%d events for %d reads, want the first and the last: %+v", len(sink.Events()), size/512, evs)
	}
	first, last := evs[0], evs[1]
	if first.Done <= 0 || first.Done >= size || last.Done != size || last.Total != size || last.Unit != "bytes" || last.Task != "upload x" {
		t.Errorf("first %+v last %+v", first, last)
	}
}

// Reads an Interval apart are each reported.
func TestReportsEachInterval(t *testing.T) {
	stepClock(t, Interval)
	sink := &eventtest.Recorder{}
	c := NewCounter(sink, "upload x", 40)
	for range 4 {
		c.Add(10)
	}
	c.Finish()
	var done []int64
	for _, p := range eventtest.Of[*event.Progress](sink) {
		done = append(done, p.Done)
	}
	if !slices.Equal(done, []int64{10, 20, 30, 40}) {
		t.Errorf("reported %v, want every read once", done)
	}
}

func TestUnknownTotal(t *testing.T) {
	sink := &eventtest.Recorder{}
	c := NewCounter(sink, "download y", -1)
	w := &Writer{W: io.Discard, C: c}
	w.Write(make([]byte, 100))
	w.Write(make([]byte, 50))
	c.Finish()
	evs := eventtest.Of[*event.Progress](sink)
	last := evs[len(evs)-1]
	if last.Done != 150 || last.Total != 150 {
		t.Errorf("last = %+v, want done = total = 150", last)
	}
	// An empty transfer still reports its end.
	sink = &eventtest.Recorder{}
	NewCounter(sink, "empty", 0).Finish()
	if evs := eventtest.Of[*event.Progress](sink); len(evs) != 1 || evs[0].Done != 0 || evs[0].Total != 0 {
		t.Errorf("empty: %+v", evs)
	}
}
