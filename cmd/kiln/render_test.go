package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kilnhq/kiln/event"
)

// fakeClock returns a time that tests move forward.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func meta(c *fakeClock, build string) event.Meta { return event.Meta{Time: c.t, Build: build} }

func TestTextRendererBuild(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	r := newTextRenderer(&out, false, false, false, 0)
	r.now = clock.now
	const b = "web.null.a"
	for _, e := range []event.Event{
		&event.RunStarted{Meta: meta(clock, ""), RunID: "r", Builds: []string{b}},
		&event.BuildStarted{Meta: meta(clock, b), BuilderType: "null"},
		&event.StepStarted{Meta: meta(clock, b), Step: "connect"},
		&event.StepFinished{Meta: meta(clock, b), Step: "connect", Duration: 120 * time.Millisecond},
		&event.Output{Meta: meta(clock, b), Source: "provisioner", Stream: "stdout", Line: "hello"},
		&event.Progress{Meta: meta(clock, b), Task: "upload script", Done: 10, Total: 10, Unit: "bytes"},
		&event.Progress{Meta: meta(clock, b), Task: "upload a.txt", Done: 0, Total: 2 << 20, Unit: "bytes"},
		&event.Progress{Meta: meta(clock, b), Task: "upload a.txt", Done: 2 << 20, Total: 2 << 20, Unit: "bytes"},
		&event.ArtifactCreated{Meta: meta(clock, b), BuilderType: "null", ID: "x", Description: "Did not export anything."},
		&event.UndoStarted{Meta: meta(clock, b), Step: "connect", What: "ssh connection"},
		&event.Message{Meta: meta(clock, b), Level: event.Warn, Text: "careful"},
		&event.BuildFinished{Meta: meta(clock, b), Duration: 1500 * time.Millisecond},
		&event.RunFinished{Meta: meta(clock, ""), Duration: 1600 * time.Millisecond},
	} {
		r.Emit(e)
	}
	want := `==> web.null.a: Starting build (null)
==> web.null.a: connect
    web.null.a: hello
    web.null.a: upload a.txt: 2.0 MiB in 0s (0 B/s)
==> web.null.a: Artifact: Did not export anything.
==> web.null.a: Removing ssh connection
==> web.null.a: Warning: careful
==> web.null.a: Build finished in 1.5s

==> Builds finished in 1.6s
--> web.null.a: succeeded in 1.5s
    web.null.a: steps: connect 120ms
    web.null.a: artifact: Did not export anything.
`
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestTextRendererFailureAndLeftBehind(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{time.Unix(0, 0)}
	r := newTextRenderer(&out, true, false, true, 0)
	r.now = clock.now
	for _, e := range []event.Event{
		&event.BuildStarted{Meta: meta(clock, "a"), BuilderType: "null"},
		&event.StepFinished{Meta: meta(clock, "a"), Step: "provision", Duration: time.Second, Error: "exit status 2"},
		&event.LeftBehind{Meta: meta(clock, "a"), Step: "launch", What: "instance i-1"},
		&event.BuildFinished{Meta: meta(clock, "a"), Duration: 2 * time.Second, Error: "provision: exit status 2"},
		&event.RunFinished{Meta: meta(clock, ""), Duration: 2 * time.Second, Failed: []string{"a"}},
	} {
		r.Emit(e)
	}
	s := out.String()
	for _, want := range []string{
		"1970-01-01T00:00:00Z: ==> ",
		ansiRed + "provision failed after 1s: exit status 2" + ansiReset,
		ansiYellow + "left behind: instance i-1 (from step launch)" + ansiReset,
		ansiRed + "failed after 2s: provision: exit status 2" + ansiReset,
		ansiGreen + "a:" + ansiReset, // the build's prefix colour
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

// TestTextRendererLiveBars checks that bars are drawn on a terminal and
// erased before the next line, so that they never mix with output.
func TestTextRendererLiveBars(t *testing.T) {
	var out bytes.Buffer
	clock := &fakeClock{time.Unix(100, 0)}
	r := newTextRenderer(&out, false, true, false, 60)
	r.now = clock.now
	r.Emit(&event.Progress{Meta: meta(clock, "a"), Task: "upload big", Done: 0, Total: 100 << 20, Unit: "bytes"})
	clock.t = clock.t.Add(time.Second)
	r.Emit(&event.Progress{Meta: meta(clock, "a"), Task: "upload big", Done: 50 << 20, Total: 100 << 20, Unit: "bytes"})
	if !strings.Contains(out.String(), " 50% 50.0 MiB/100.0 MiB 50.0 MiB/s 1s") || !strings.Contains(out.String(), "[") {
		t.Fatalf("no bar at 50%%:\n%q", out.String())
	}
	out.Reset()
	r.Emit(&event.Output{Meta: meta(clock, "a"), Line: "hi"})
	if want := "\x1b[1A\x1b[J    a: hi\n"; !strings.HasPrefix(out.String(), want) {
		t.Errorf("line after a bar: %q, want prefix %q", out.String(), want)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		if n := len([]rune(strings.TrimPrefix(l, "\x1b[1A\x1b[J"))); n > 60 {
			t.Errorf("line of %d runes is wider than the terminal: %q", n, l)
		}
	}
	out.Reset()
	r.Emit(&event.BuildFinished{Meta: meta(clock, "a")})
	if strings.Contains(out.String(), "upload big") {
		t.Errorf("bar still drawn after the build finished: %q", out.String())
	}
}

func TestTextRendererPause(t *testing.T) {
	var out bytes.Buffer
	r := newTextRenderer(&out, false, false, false, 0)
	resume := r.pause()
	r.Emit(&event.Output{Meta: event.Meta{Build: "a"}, Line: "held"})
	if out.Len() != 0 {
		t.Fatalf("output while paused: %q", out.String())
	}
	resume()
	if out.String() != "    a: held\n" {
		t.Errorf("after resume: %q", out.String())
	}
}

func TestJSONRenderer(t *testing.T) {
	var out, errOut bytes.Buffer
	r := &jsonRenderer{w: &out, errOut: &errOut}
	r.Emit(&event.StepStarted{Meta: event.Meta{Build: "a"}, Step: "connect"})
	r.Emit(&event.Output{Meta: event.Meta{Build: "a"}, Stream: "stdout", Line: "x"})
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2: %q", len(lines), out.String())
	}
	for i, want := range []string{"step.started", "output"} {
		var obj map[string]any
		if err := json.Unmarshal([]byte(lines[i]), &obj); err != nil {
			t.Fatalf("line %d is not JSON: %v", i, err)
		}
		if obj["type"] != want || obj["build"] != "a" {
			t.Errorf("line %d: %v", i, obj)
		}
	}
}

func TestMachineRenderer(t *testing.T) {
	var out bytes.Buffer
	m := newMachineRenderer(&out)
	m.now = func() time.Time { return time.Unix(42, 0) }
	m.text.now = m.now
	m.Emit(&event.BuildStarted{Meta: event.Meta{Build: "a"}, BuilderType: "null"})
	m.Emit(&event.ArtifactCreated{Meta: event.Meta{Build: "a"}, BuilderType: "qemu", ID: "x,y", Files: []string{"out/disk"}, Description: "disk\nimage"})
	m.Emit(&event.BuildFinished{Meta: event.Meta{Build: "a"}, Error: "boom"})
	for _, want := range []string{
		"42,,ui,say,==> a: Starting build (null)\n",
		"42,a,artifact,0,builder-id,qemu\n",
		"42,a,artifact,0,id,x%!(PACKER_COMMA)y\n",
		"42,a,artifact,0,string,disk\\nimage\n",
		"42,a,artifact,0,files-count,1\n",
		"42,a,artifact,0,file,0,out/disk\n",
		"42,a,artifact,0,end\n",
		"42,a,artifact-count,1\n",
		"42,a,error,boom\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestBytesString(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := bytesString(n); got != want {
			t.Errorf("bytesString(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestTextRendererCancelling(t *testing.T) {
	var out bytes.Buffer
	r := newTextRenderer(&out, false, false, false, 0)
	r.cancelling("Cancelling, cleaning up…")
	r.Emit(&event.StepFinished{Meta: event.Meta{Build: "a"}, Step: "provision", Duration: time.Second, Error: "run x: context canceled"})
	r.Emit(&event.UndoStarted{Meta: event.Meta{Build: "a"}, Step: "launch", What: "instance i-1"})
	want := "==> Cancelling, cleaning up…\n==> a: provision cancelled after 1s\n==> a: Removing instance i-1\n"
	if out.String() != want {
		t.Errorf("output:\n%q\nwant:\n%q", out.String(), want)
	}
}
