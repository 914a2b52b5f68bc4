package event

import "testing"

// Every event type must satisfy Event through its embedded Meta.
var allEvents = []Event{
	&RunStarted{}, &RunFinished{}, &BuildStarted{}, &BuildFinished{},
	&StepStarted{}, &StepFinished{}, &UndoStarted{}, &UndoFinished{},
	&LeftBehind{}, &Output{}, &Progress{}, &ArtifactCreated{}, &Message{},
}

func TestForBuildStamps(t *testing.T) {
	for _, e := range allEvents {
		var got Event
		ForBuild(SinkFunc(func(e Event) { got = e }), "b.null.x").Emit(e)
		m := got.EventMeta()
		if m.Build != "b.null.x" || m.Time.IsZero() {
			t.Errorf("%s: meta not stamped: %+v", e.Kind(), *m)
		}
	}
}
