package kiln

import (
	"context"
	"errors"
	"os"
	"strconv"
	"time"

	"github.com/kilnhq/kiln/builder/amazonebs"
	"github.com/kilnhq/kiln/builder/qemu"
	"github.com/kilnhq/kiln/event"
)

// CleanOptions says what Clean sweeps.
type CleanOptions struct {
	// AWS says where to look for what amazon-ebs builds left behind. The
	// regions named in the local journals of dead builds are swept as
	// well. With no region given or configured, only those are.
	AWS AWS
	// OlderThan, when set, also removes temporary resources created longer
	// ago than this, whatever their expiry. When zero, only those whose
	// expiry has passed, or whose build's process is dead, are removed.
	OlderThan time.Duration
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
	// JournalOnly removes only what the local journals of dead builds
	// record, without sweeping for kiln's tags. (Local builds are always
	// found from their journals.)
	JournalOnly bool
	// Events receives a message per resource found; nil discards them.
	Events event.Sink
}

// CleanedResource is one temporary resource Clean found.
type CleanedResource struct {
	// Builder is the type label of the builder that made it ("amazon-ebs").
	Builder string
	// Kind is what it is ("instance", "key-pair", "image", ...; for qemu
	// "temporary directory", "staging directory", "qemu process").
	Kind string
	// ID names it (for qemu, the path or the pid); Location says where it
	// is (for amazon-ebs, the AWS region; for qemu, this host).
	ID, Location string
	// Build is the ID of the build that made it, when known.
	Build string
	// Err is set when removing it failed.
	Err error
}

// CleanReport lists what Clean removed (or would remove, with DryRun),
// what it could not remove, and the builds it left alone because their
// process still runs. Each resource names its builder and kind.
type CleanReport struct {
	Removed    []CleanedResource
	Failed     []CleanedResource
	LiveBuilds []string
	// JournalsRemoved lists the journal files of builds now fully cleaned.
	JournalsRemoved []string
}

func (r *CleanReport) add(o *CleanReport) {
	r.Removed = append(r.Removed, o.Removed...)
	r.Failed = append(r.Failed, o.Failed...)
	r.LiveBuilds = append(r.LiveBuilds, o.LiveBuilds...)
	r.JournalsRemoved = append(r.JournalsRemoved, o.JournalsRemoved...)
}

// A cleaner sweeps what the builds of one builder type left behind. It
// returns a nil report when it could not start sweeping.
type cleaner func(ctx context.Context, opts CleanOptions) (*CleanReport, error)

// cleaners are the sweeps Clean runs, in order, each with the same
// options; a sweep that cannot start does not stop the others. A builder
// whose temporary resources can outlive a killed process adds its sweep
// here.
var cleaners = []cleaner{cleanAWS, cleanQEMU}

// Clean removes the temporary resources that builds killed before their own
// cleanup left behind, found by kiln's tags and from the local journals of
// builds whose process is gone; resources of builds whose process still
// runs on this host are never touched. It emits a message per resource to
// opts.Events. The report is nil when no sweep could start (the error says
// why); otherwise the error joins what went wrong, and is nil when
// everything found was removed.
func Clean(ctx context.Context, opts CleanOptions) (*CleanReport, error) {
	var rep *CleanReport
	var errs []error
	for _, c := range cleaners {
		r, err := c(ctx, opts)
		if err != nil {
			errs = append(errs, err)
		}
		if r == nil {
			continue
		}
		if rep == nil {
			rep = &CleanReport{}
		}
		rep.add(r)
	}
	return rep, errors.Join(errs...)
}

// cleanAWS sweeps what amazon-ebs builds left behind.
func cleanAWS(ctx context.Context, opts CleanOptions) (*CleanReport, error) {
	o := amazonebs.CleanOptions{
		Access:      opts.AWS.access(),
		Regions:     opts.AWS.Regions,
		OlderThan:   opts.OlderThan,
		DryRun:      opts.DryRun,
		JournalOnly: opts.JournalOnly,
		Events:      opts.Events,
	}
	if len(o.Regions) == 0 {
		region, err := defaultRegion(ctx, opts.AWS.Profile)
		if err != nil {
			return nil, err
		}
		o.Access.Region = region
		if region == "" && !opts.JournalOnly {
			// Nothing to sweep by tag: a machine that builds only local
			// images has no AWS region, and its clean must not fail.
			o.JournalOnly = true
			if opts.Events != nil {
				opts.Events.Emit(&event.Message{Level: event.Info, Text: "clean: no AWS region given or configured (-region, AWS_REGION, a profile's region): only the regions in the journals of dead amazon-ebs builds are swept"})
			}
		}
	}
	r, err := amazonebs.Clean(ctx, o)
	if r == nil {
		return nil, err
	}
	conv := func(rs []amazonebs.CleanedResource) []CleanedResource {
		var out []CleanedResource
		for _, c := range rs {
			out = append(out, CleanedResource{Builder: amazonebs.Type, Kind: c.Kind, ID: c.ID, Location: c.Region, Build: c.Build, Err: c.Err})
		}
		return out
	}
	return &CleanReport{
		Removed: conv(r.Removed), Failed: conv(r.Failed),
		LiveBuilds: r.LiveBuilds, JournalsRemoved: r.JournalsRemoved,
	}, err
}

// cleanQEMU removes what qemu builds left on this machine: temporary and
// staging directories and qemu processes that outlived kiln, from the
// builds' journals.
func cleanQEMU(ctx context.Context, opts CleanOptions) (*CleanReport, error) {
	r, err := qemu.Clean(ctx, qemu.CleanOptions{DryRun: opts.DryRun, Events: opts.Events})
	if r == nil {
		return nil, err
	}
	host, _ := os.Hostname()
	conv := func(ls []qemu.Leftover) []CleanedResource {
		var out []CleanedResource
		for _, l := range ls {
			id := l.Path
			if l.PID != 0 {
				id = strconv.Itoa(l.PID)
			}
			out = append(out, CleanedResource{Builder: qemu.Type, Kind: l.Kind, ID: id, Location: host, Build: l.Build, Err: l.Err})
		}
		return out
	}
	return &CleanReport{
		Removed: conv(r.Removed), Failed: conv(r.Failed),
		LiveBuilds: r.LiveBuilds, JournalsRemoved: r.JournalsRemoved,
	}, err
}
