package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/kilnhq/kiln/event"
)

// CleanOptions says what Clean sweeps.
type CleanOptions struct {
	// DryRun lists what would be removed and removes nothing.
	DryRun bool
	// Events receives a message per leftover; nil discards them.
	Events event.Sink
	// Dir is where the journals are; "" means DefaultJournalDir().
	Dir string
}

// Leftover is one thing a killed build left behind.
type Leftover struct {
	// Build is the ID of the build that made it.
	Build string
	// Kind is "temporary directory", "staging directory" or "qemu process".
	Kind string
	// Path is the directory; empty for a process.
	Path string
	// PID is the qemu process's pid; 0 for a directory.
	PID int
	// Err is set when removing it failed.
	Err error
}

func (l Leftover) String() string {
	what := l.Kind + " " + l.Path
	if l.PID != 0 {
		what = fmt.Sprintf("%s %d", l.Kind, l.PID)
	}
	return fmt.Sprintf("%s (build %s)", what, l.Build)
}

// Report lists what Clean removed (or would remove, with DryRun), what it
// could not remove, and the builds it left alone because their kiln process
// still runs.
type Report struct {
	Removed    []Leftover
	Failed     []Leftover
	LiveBuilds []string
	// JournalsRemoved lists the journal files of builds now fully cleaned.
	JournalsRemoved []string
}

// Clean removes what qemu builds killed before their own cleanup left on
// this machine, as their journals record it: a qemu process that outlived
// kiln (killed only if it is still the process that was started, never a
// process that reused its pid), then the temporary directory (sockets, seed
// with the build's host key, serial log) and the staging directory beside
// the output. Builds whose kiln process still runs are never touched. With
// DryRun it lists the same things and removes nothing.
func Clean(ctx context.Context, opts CleanOptions) (*Report, error) {
	events := opts.Events
	if events == nil {
		events = event.Discard
	}
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = DefaultJournalDir(); err != nil {
			return nil, err
		}
	}
	journals, jerr := readJournals(dir)
	if jerr != nil {
		events.Emit(&event.Message{Level: event.Warn, Text: fmt.Sprintf("clean: %v", jerr)})
	}
	rep := &Report{}
	for _, j := range journals {
		if j.alive() {
			rep.LiveBuilds = append(rep.LiveBuilds, j.doc.Build)
			continue
		}
		failed := len(rep.Failed)
		// Processes first: a running qemu still uses the directories.
		for _, processes := range []bool{true, false} {
			for _, r := range j.doc.Resources {
				if (r.Kind == kindProcess) != processes {
					continue
				}
				l, found := leftover(j.doc.Build, r)
				if !found {
					continue
				}
				if !opts.DryRun && l.Err == nil {
					l.Err = remove(ctx, r)
				}
				report(events, rep, l, opts.DryRun)
			}
		}
		if !opts.DryRun && len(rep.Failed) == failed {
			if err := os.Remove(j.path); err == nil {
				rep.JournalsRemoved = append(rep.JournalsRemoved, j.path)
			}
		}
	}
	if len(rep.Failed) > 0 {
		return rep, errors.Join(jerr, fmt.Errorf("clean: %d leftovers could not be removed", len(rep.Failed)))
	}
	return rep, jerr
}

// leftover describes r if it still exists; a path that is not one a build
// makes is reported with an error instead of being removed.
func leftover(build string, r resource) (Leftover, bool) {
	l := Leftover{Build: build, Kind: r.Kind, Path: r.Path}
	switch r.Kind {
	case kindProcess:
		if r.Proc == nil {
			return l, false
		}
		l.PID = r.Proc.PID
		return l, r.Proc.running()
	case kindTempDir, kindStageDir:
		if _, err := os.Lstat(r.Path); errors.Is(err, fs.ErrNotExist) {
			return l, false
		}
		if !kilnDir(r.Kind, r.Path) {
			l.Err = fmt.Errorf("not a name kiln gives a %s; refusing to remove it", r.Kind)
		}
		return l, true
	}
	return l, false
}

func remove(ctx context.Context, r resource) error {
	if r.Kind == kindProcess {
		return r.Proc.killGroup(ctx)
	}
	return os.RemoveAll(r.Path)
}

func report(events event.Sink, rep *Report, l Leftover, dryRun bool) {
	msg := &event.Message{Level: event.Info}
	switch {
	case l.Err != nil:
		msg.Level, msg.Text = event.Error, fmt.Sprintf("clean: could not remove %s: %v", l, l.Err)
		rep.Failed = append(rep.Failed, l)
	case dryRun:
		msg.Text = "clean: would remove " + l.String()
		rep.Removed = append(rep.Removed, l)
	default:
		msg.Text = "clean: removed " + l.String()
		rep.Removed = append(rep.Removed, l)
	}
	events.Emit(msg)
}
