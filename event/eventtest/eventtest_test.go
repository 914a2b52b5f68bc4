package eventtest_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

func TestViews(t *testing.T) {
	var logged []string
	rec := &eventtest.Recorder{Logf: func(f string, args ...any) { logged = append(logged, fmt.Sprintf(f, args...)) }}
	rec.Emit(&event.StepStarted{Step: "boot"})
	rec.Emit(&event.Output{Stream: "stdout", Line: "out 1"})
	rec.Emit(&event.Message{Level: event.Warn, Text: "careful"})
	rec.Emit(&event.Progress{Task: "upload", Done: 1, Total: 2})
	rec.Emit(&event.Output{Stream: "stderr", Line: "err 1"})
	rec.Emit(&event.Message{Level: event.Info, Text: "fine"})

	for name, c := range map[string]struct{ got, want []string }{
		"Kinds":          {rec.Kinds(), []string{"step.started", "output", "message", "progress", "output", "message"}},
		"Kinds(only)":    {rec.Kinds("message", "step.started"), []string{"step.started", "message", "message"}},
		"Messages":       {rec.Messages(), []string{"careful", "fine"}},
		"Messages(warn)": {rec.Messages(event.Warn), []string{"careful"}},
		"Lines":          {rec.Lines(), []string{"out 1", "err 1"}},
		"Lines(stderr)":  {rec.Lines("stderr"), []string{"err 1"}},
		"Texts":          {rec.Texts(), []string{"out 1", "careful", "err 1", "fine"}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %q, want %q", name, c.got, c.want)
		}
	}
	if p := eventtest.Of[*event.Progress](rec); len(p) != 1 || p[0].Task != "upload" {
		t.Errorf("Of[*event.Progress] = %+v", p)
	}
	if n := len(rec.Events()); n != 6 {
		t.Errorf("%d events, want 6", n)
	}
	if len(logged) != 5 || !strings.Contains(logged[0], `"step":"boot"`) {
		t.Errorf("logged %q, want every event but progress as JSON", logged)
	}
}

func TestEventsIsACopy(t *testing.T) {
	rec := &eventtest.Recorder{}
	rec.Emit(&event.Message{Text: "a"})
	got := rec.Events()
	got[0] = &event.Message{Text: "changed"}
	if rec.Messages()[0] != "a" {
		t.Error("changing the slice Events returned changed the Recorder")
	}
}

// Run with -race: emitters and a waiter at once.
func TestConcurrentEmitAndWait(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &eventtest.Recorder{}
	const emitters, each = 8, 100
	var wg sync.WaitGroup
	for g := range emitters {
		wg.Go(func() {
			for i := range each {
				rec.Emit(&event.Output{Line: fmt.Sprintf("%d/%d", g, i)})
			}
		})
	}
	e, err := rec.Wait(ctx, eventtest.Line(fmt.Sprintf("%d/%d", emitters-1, each-1)))
	if err != nil {
		t.Fatal(err)
	}
	if e.(*event.Output).Line != fmt.Sprintf("%d/%d", emitters-1, each-1) {
		t.Errorf("Wait returned %+v", e)
	}
	wg.Wait()
	if n := len(rec.Lines()); n != emitters*each {
		t.Errorf("%d lines recorded, want %d", n, emitters*each)
	}
}

func TestWaitSeesEarlierEvents(t *testing.T) {
	rec := &eventtest.Recorder{}
	rec.Emit(&event.Message{Text: "ready"})
	rec.Emit(&event.Message{Text: "later"})
	e, err := rec.Wait(context.Background(), eventtest.Message("ready"))
	if err != nil || e.(*event.Message).Text != "ready" {
		t.Fatalf("Wait = %v, %v", e, err)
	}
}

func TestWaitForLaterEvent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rec := &eventtest.Recorder{}
	waiting := make(chan struct{})
	got := make(chan error, 1)
	go func() {
		close(waiting)
		_, err := rec.Wait(ctx, eventtest.Message("done"))
		got <- err
	}()
	<-waiting
	rec.Emit(&event.Message{Text: "not yet"})
	rec.Emit(&event.Message{Text: "done"})
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// A match may look at the Recorder itself.
func TestMatchMayReadTheRecorder(t *testing.T) {
	rec := &eventtest.Recorder{}
	for _, s := range []string{"a", "b", "c"} {
		rec.Emit(&event.Message{Text: s})
	}
	e, err := rec.Wait(context.Background(), func(event.Event) bool { return len(rec.Messages()) == 3 })
	if err != nil || e.(*event.Message).Text != "a" {
		t.Fatalf("Wait = %v, %v", e, err)
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	rec := &eventtest.Recorder{}
	rec.Emit(&event.Message{Text: "other"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := rec.Wait(ctx, eventtest.Message("never"))
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "none of 1 events") {
		t.Fatalf("Wait under a cancelled context = %v", err)
	}
}
