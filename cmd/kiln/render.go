package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/kilnhq/kiln/event"
)

// textRenderer renders events as lines for a person: "==> BUILD: message"
// for what kiln does, "    BUILD: line" for the output of commands, live
// progress bars on a terminal, and a summary when the run ends. It is an
// event.Sink, safe for concurrent use.
type textRenderer struct {
	mu         sync.Mutex
	w          io.Writer
	color      bool
	live       bool // draw progress bars (stdout is a terminal)
	timestamps bool
	width      int // terminal width for bars; 0 when unknown
	now        func() time.Time

	builds map[string]*buildSummary
	order  []string // builds in the order they started
	bars   []*bar   // live progress, in the order the tasks started
	drawn  int      // lines of bars currently on screen
	drawAt time.Time
	// cancelled is set once the person interrupted the run.
	cancelled bool
	// held collects output while a question is asked (see pause).
	paused bool
	held   []byte
}

// buildSummary is what the renderer remembers of a build for the summary.
type buildSummary struct {
	name, builderType string
	color             string
	steps             []stepTime
	artifacts         []string
	leftBehind        []string
	err               string
	lastErr           string // the last step error printed
	cancelled         bool
	finished          bool
	duration          time.Duration
}

type stepTime struct {
	name string
	d    time.Duration
}

// bar is one progress task.
type bar struct {
	build, task string
	done, total int64
	unit        string
	started     time.Time
}

func newTextRenderer(w io.Writer, color, live, timestamps bool, width int) *textRenderer {
	return &textRenderer{w: w, color: color, live: live, timestamps: timestamps, width: width,
		now: time.Now, builds: map[string]*buildSummary{}}
}

// Emit renders e.
func (r *textRenderer) Emit(e event.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := e.EventMeta()
	at := m.Time
	if at.IsZero() {
		at = r.now()
	}
	b := r.build(m.Build)
	switch e := e.(type) {
	case *event.RunStarted:
		// The builds announce themselves.
	case *event.BuildStarted:
		b.builderType = e.BuilderType
		r.say(at, b, "", "Starting build (%s)", e.BuilderType)
	case *event.StepStarted:
		r.say(at, b, "", "%s", e.Step)
	case *event.StepFinished:
		b.steps = append(b.steps, stepTime{e.Step, e.Duration})
		r.endBars(b.name)
		switch {
		case e.Error == "":
		case r.cancelled:
			r.say(at, b, ansiYellow, "%s cancelled after %s", e.Step, round(e.Duration))
		case e.Error == b.lastErr:
			// An outer step failing with the error just printed.
			r.say(at, b, ansiRed, "%s failed after %s", e.Step, round(e.Duration))
		default:
			r.say(at, b, ansiRed, "%s failed after %s: %s", e.Step, round(e.Duration), e.Error)
			b.lastErr = e.Error
		}
	case *event.UndoStarted:
		r.say(at, b, "", "Removing %s", e.What)
	case *event.UndoFinished:
		if e.Error != "" {
			r.say(at, b, ansiRed, "Could not remove %s: %s", e.What, e.Error)
		}
	case *event.LeftBehind:
		b.leftBehind = append(b.leftBehind, e.What)
		r.say(at, b, ansiYellow, "left behind: %s (from step %s)", e.What, e.Step)
	case *event.Output:
		r.line(at, b, "    ", "", e.Line)
	case *event.Progress:
		r.progress(at, b, e)
		return
	case *event.ArtifactCreated:
		b.artifacts = append(b.artifacts, e.Description)
		r.say(at, b, ansiBold, "Artifact: %s", e.Description)
	case *event.Message:
		switch e.Level {
		case event.Warn:
			r.say(at, b, ansiYellow, "Warning: %s", e.Text)
		case event.Error:
			r.say(at, b, ansiRed, "Error: %s", e.Text)
		default:
			r.say(at, b, "", "%s", e.Text)
		}
	case *event.BuildFinished:
		r.endBars(b.name)
		b.finished, b.duration, b.err, b.cancelled = true, e.Duration, e.Error, e.Cancelled
		switch {
		case e.Cancelled:
			r.say(at, b, ansiYellow, "Build cancelled after %s", round(e.Duration))
		case e.Error != "":
			r.say(at, b, ansiRed, "Build failed after %s: %s", round(e.Duration), e.Error)
		default:
			r.say(at, b, ansiGreen, "Build finished in %s", round(e.Duration))
		}
	case *event.RunFinished:
		r.summary(at, e)
	default:
		r.say(at, b, "", "%s", e.Kind())
	}
	r.draw(true)
}

// notice prints a run-wide line that is not an event.
func (r *textRenderer) notice(color, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.say(r.now(), r.build(""), color, format, args...)
	r.draw(true)
}

// cancelling prints msg and notes that the run is being cancelled: steps
// that fail from then on are reported as cancelled, without their error.
func (r *textRenderer) cancelling(msg string) {
	r.mu.Lock()
	r.cancelled = true
	r.mu.Unlock()
	r.notice(ansiYellow, "%s", msg)
}

// pause holds output back while a question is asked on the terminal; the
// function it returns prints what was held and resumes.
func (r *textRenderer) pause() (resume func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.clear()
	r.paused = true
	return func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.paused = false
		r.w.Write(r.held)
		r.held = nil
		r.draw(true)
	}
}

// write writes s, or holds it while paused.
func (r *textRenderer) write(s string) {
	if r.paused {
		r.held = append(r.held, s...)
		return
	}
	io.WriteString(r.w, s)
}

// build returns the summary of the named build, creating it.
func (r *textRenderer) build(name string) *buildSummary {
	b, ok := r.builds[name]
	if !ok {
		b = &buildSummary{name: name}
		if name != "" {
			b.color = buildColors[len(r.order)%len(buildColors)]
			r.order = append(r.order, name)
		}
		r.builds[name] = b
	}
	return b
}

// say prints "==> BUILD: message".
func (r *textRenderer) say(at time.Time, b *buildSummary, color, format string, args ...any) {
	r.line(at, b, "==> ", color, fmt.Sprintf(format, args...))
}

// line prints one line (or several, if text has newlines) with the build's
// prefix, after clearing the progress bars.
func (r *textRenderer) line(at time.Time, b *buildSummary, lead, color, text string) {
	r.clear()
	var sb strings.Builder
	for l := range strings.SplitSeq(strings.TrimRight(text, "\n"), "\n") {
		if r.timestamps {
			sb.WriteString(at.Format(time.RFC3339))
			sb.WriteString(": ")
		}
		sb.WriteString(lead)
		if b.name != "" {
			sb.WriteString(r.paint(b.color, b.name+":"))
			sb.WriteByte(' ')
		}
		sb.WriteString(r.paint(color, l))
		sb.WriteByte('\n')
	}
	r.write(sb.String())
}

func (r *textRenderer) paint(color, s string) string {
	if !r.color || color == "" || s == "" {
		return s
	}
	return color + s + ansiReset
}

// progress records a progress event. On a terminal it is drawn as a bar
// until the task is done; elsewhere only the end of a transfer is printed.
func (r *textRenderer) progress(at time.Time, b *buildSummary, e *event.Progress) {
	var p *bar
	for _, x := range r.bars {
		if x.build == b.name && x.task == e.Task {
			p = x
		}
	}
	if p == nil {
		p = &bar{build: b.name, task: e.Task, unit: e.Unit, started: at}
		r.bars = append(r.bars, p)
	}
	p.done, p.total = e.Done, e.Total
	if e.Total >= 0 && e.Done >= e.Total {
		r.removeBar(p)
		// A transfer worth a rate gets a line when it ends; small ones (a
		// provisioner's script) would only be noise.
		if d := at.Sub(p.started); e.Unit == "bytes" && (d >= 100*time.Millisecond || e.Done >= 1<<20) {
			r.line(at, b, "    ", "", fmt.Sprintf("%s: %s in %s (%s/s)", e.Task, bytesString(e.Done), round(d), bytesString(rate(e.Done, d))))
		}
		r.draw(true)
		return
	}
	r.draw(false)
}

func (r *textRenderer) removeBar(p *bar) {
	for i, x := range r.bars {
		if x == p {
			r.bars = append(r.bars[:i], r.bars[i+1:]...)
			r.clear()
			return
		}
	}
}

// endBars drops the bars of a build whose step or build ended.
func (r *textRenderer) endBars(build string) {
	kept := r.bars[:0]
	for _, x := range r.bars {
		if x.build != build {
			kept = append(kept, x)
		}
	}
	if len(kept) != len(r.bars) {
		r.clear()
	}
	r.bars = kept
}

// clear erases the bars drawn on the terminal.
func (r *textRenderer) clear() {
	if r.drawn > 0 {
		fmt.Fprintf(r.w, "\x1b[%dA\x1b[J", r.drawn)
		r.drawn = 0
	}
}

// draw redraws the bars on a terminal. Unless force is set, it draws at most
// ten times a second.
func (r *textRenderer) draw(force bool) {
	if !r.live || r.paused || len(r.bars) == 0 {
		return
	}
	now := r.now()
	if !force && now.Sub(r.drawAt) < 100*time.Millisecond {
		return
	}
	r.drawAt = now
	r.clear()
	var sb strings.Builder
	for _, p := range r.bars {
		l := p.render(now, r.width)
		sb.WriteString(l)
		sb.WriteByte('\n')
	}
	io.WriteString(r.w, sb.String())
	r.drawn = len(r.bars)
}

// render formats the bar as one line no wider than width (when known).
func (p *bar) render(now time.Time, width int) string {
	el := now.Sub(p.started)
	count := func(n int64) string {
		if p.unit == "bytes" {
			return bytesString(n)
		}
		return fmt.Sprint(n)
	}
	var tail string
	switch {
	case p.total > 0:
		tail = fmt.Sprintf(" %3d%% %s/%s", p.done*100/p.total, count(p.done), count(p.total))
	case p.done > 0:
		tail = " " + count(p.done)
	}
	// A rate over a shorter time says nothing yet.
	if p.unit == "bytes" && el >= 200*time.Millisecond {
		tail += fmt.Sprintf(" %s/s", bytesString(rate(p.done, el)))
	}
	tail += " " + round(el).String()
	head := "    " + p.build + ": " + p.task + " "
	if width <= 0 {
		width = 80
	}
	barWidth := width - len([]rune(head)) - len(tail) - 3
	if p.total > 0 && barWidth >= 10 {
		barWidth = min(barWidth, 40)
		fill := int(int64(barWidth) * min(p.done, p.total) / p.total)
		return head + "[" + strings.Repeat("=", fill) + strings.Repeat(" ", barWidth-fill) + "]" + tail
	}
	line := head + strings.TrimSpace(tail)
	if r := []rune(line); len(r) > width-1 {
		line = string(r[:width-1])
	}
	return line
}

// summary prints the outcome of every build: its time and the time of each
// step, its artifacts, and what was left behind.
func (r *textRenderer) summary(at time.Time, e *event.RunFinished) {
	none := r.build("")
	r.write("\n")
	r.line(at, none, "==> ", ansiBold, fmt.Sprintf("Builds finished in %s", round(e.Duration)))
	for _, name := range r.order {
		b := r.builds[name]
		switch {
		case !b.finished:
			r.line(at, b, "--> ", ansiYellow, "did not finish")
		case b.cancelled:
			r.line(at, b, "--> ", ansiYellow, "cancelled after "+round(b.duration).String())
		case b.err != "":
			r.line(at, b, "--> ", ansiRed, fmt.Sprintf("failed after %s: %s", round(b.duration), b.err))
		default:
			r.line(at, b, "--> ", ansiGreen, "succeeded in "+round(b.duration).String())
		}
		if len(b.steps) > 0 {
			var parts []string
			for _, s := range b.steps {
				parts = append(parts, s.name+" "+round(s.d).String())
			}
			r.line(at, b, "    ", "", "steps: "+strings.Join(parts, ", "))
		}
		for _, a := range b.artifacts {
			r.line(at, b, "    ", "", "artifact: "+a)
		}
		for _, w := range b.leftBehind {
			r.line(at, b, "    ", ansiYellow, "left behind: "+w)
		}
	}
}

// round shortens d for people: seconds above a minute, milliseconds above
// one, microseconds below.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second)
	case d >= time.Millisecond:
		return d.Round(time.Millisecond)
	}
	return d.Round(time.Microsecond)
}

func rate(n int64, d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(float64(n) / d.Seconds())
}

// bytesString formats n bytes with a binary unit ("12.5 MiB").
func bytesString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// jsonRenderer writes each event as one JSON object per line (event.MarshalJSON).
type jsonRenderer struct {
	mu     sync.Mutex
	w      io.Writer
	errOut io.Writer
}

// Emit writes e as one line.
func (r *jsonRenderer) Emit(e event.Event) {
	b, err := event.MarshalJSON(e)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		fmt.Fprintf(r.errOut, "kiln: %v\n", err)
		return
	}
	r.w.Write(append(b, '\n'))
}
