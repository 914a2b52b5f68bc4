package progress

import (
	"bytes"
	"io"
	"sync"
	"testing"

	"github.com/kilnhq/kiln/event"
)

type collect struct {
	mu  sync.Mutex
	evs []*event.Progress
}

func (c *collect) Emit(e event.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, e.(*event.Progress))
}

func TestThrottledFirstAndLast(t *testing.T) {
	sink := &collect{}
	const size = 10 << 20
	c := NewCounter(sink, "upload x", size)
	// Many small reads in far less than Interval: the first and the last
	// are reported, little in between.
	n, err := io.CopyBuffer(io.Discard, &Reader{R: bytes.NewReader(make([]byte, size)), C: c}, make([]byte, 512))
	if err != nil || n != size {
		t.Fatal(n, err)
	}
	c.Finish()
	if len(sink.evs) < 2 || len(sink.evs) > 2+int(size/512/1000) {
		t.Errorf("%d events for %d reads", len(sink.evs), size/512)
	}
	first, last := sink.evs[0], sink.evs[len(sink.evs)-1]
	if first.Done <= 0 || first.Done >= size || last.Done != size || last.Total != size || last.Unit != "bytes" || last.Task != "upload x" {
		t.Errorf("first %+v last %+v", first, last)
	}
	if len(sink.evs) >= 2 && sink.evs[len(sink.evs)-2].Done == size {
		t.Error("the final count was reported twice")
	}
}

func TestUnknownTotal(t *testing.T) {
	sink := &collect{}
	c := NewCounter(sink, "download y", -1)
	w := &Writer{W: io.Discard, C: c}
	w.Write(make([]byte, 100))
	w.Write(make([]byte, 50))
	c.Finish()
	last := sink.evs[len(sink.evs)-1]
	if last.Done != 150 || last.Total != 150 {
		t.Errorf("last = %+v, want done = total = 150", last)
	}
	// An empty transfer still reports its end.
	sink = &collect{}
	NewCounter(sink, "empty", 0).Finish()
	if len(sink.evs) != 1 || sink.evs[0].Done != 0 || sink.evs[0].Total != 0 {
		t.Errorf("empty: %+v", sink.evs)
	}
}
