package eventtest_test

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/event/eventtest"
)

// A Recorder is the Events of a builder.Env or provisioner.Env in a test;
// Wait lets the test act once the code under test says something.
func ExampleRecorder() {
	rec := &eventtest.Recorder{}
	go func() {
		rec.Emit(&event.Output{Stream: "stdout", Line: "installing"})
		rec.Emit(&event.Message{Level: event.Info, Text: "qemu started"})
	}()
	// The deadline only keeps a broken test from hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := rec.Wait(ctx, eventtest.Message("qemu started")); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Texts())
	// Output: [installing qemu started]
}
