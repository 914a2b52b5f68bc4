package event

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// MarshalJSON encodes e as one flat JSON object, the form `kiln build -json`
// writes one per line. The object starts with the event's kind and the common
// fields, then holds the event's own fields:
//
//	{"type":"step.finished","time":"2026-11-26T06:00:00.123456789Z","build":"web.null.a","step":"connect","duration_ns":1200000}
//
// The field names are stable; a field whose value is empty (an error on
// success, a build on a run-wide event) is left out.
//
//	type           every event   the event's kind, as returned by Kind
//	time           every event   when it happened, RFC 3339 with nanoseconds
//	build          most events   the full build name ("web.null.a"); absent on run.*
//	run_id         run.started   the run's ID (Packer's packer_run_uuid)
//	builds         run.started   the builds the run will make, in order
//	failed         run.finished  the builds that failed
//	builder_type   build.started, artifact  the source's type label ("null")
//	step           step.*, undo.*, left-behind  the builder step's name
//	what           undo.*, left-behind  the resource being removed or left ("instance i-0abc")
//	duration_ns    run.finished, build.finished, step.finished, undo.finished  elapsed time in nanoseconds
//	error          build.finished, step.finished, undo.finished  the error; absent on success
//	cancelled      build.finished  true when the build ended because it was cancelled
//	source         output        the block that produced the line (`provisioner "shell" (web.pkr.hcl:23)`)
//	stream         output        "stdout" or "stderr"
//	line           output        one line, without its newline
//	task           progress      what is progressing ("upload /tmp/x")
//	done, total    progress      units done and in all; total is -1 when unknown
//	unit           progress      "bytes" for transfers
//	id             artifact      the artifact's ID in Packer's format
//	files          artifact      local files of the artifact
//	description    artifact      the artifact described for a person
//	level          message       "info", "warning" or "error"
//	text           message       the message
//
// Event types added later follow the same rule: the struct's json tags are the
// field names, flattened after type, time and build.
func MarshalJSON(e Event) ([]byte, error) {
	if e == nil {
		return nil, fmt.Errorf("event: marshal nil event")
	}
	kind, err := json.Marshal(e.Kind())
	if err != nil {
		return nil, fmt.Errorf("event: marshal %s: %w", e.Kind(), err)
	}
	fields, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("event: marshal %s: %w", e.Kind(), err)
	}
	if len(fields) < 2 || fields[0] != '{' {
		return nil, fmt.Errorf("event: %s does not encode as a JSON object", e.Kind())
	}
	var b bytes.Buffer
	b.Grow(len(`{"type":,`) + len(kind) + len(fields))
	b.WriteString(`{"type":`)
	b.Write(kind)
	if rest := fields[1:]; rest[0] != '}' {
		b.WriteByte(',')
		b.Write(rest)
	} else {
		b.WriteByte('}')
	}
	return b.Bytes(), nil
}
