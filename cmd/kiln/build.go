package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sync/atomic"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/step"
)

func runBuild(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("build", "[options] PATH",
		`Builds the images a template describes: one build per build block and source.
PATH is a template file or a directory of them.

The first interrupt (Ctrl-C, SIGTERM, or SIGHUP when the terminal closes)
cancels the builds and removes what they created; a second one stops the
cleanup and lists what was left behind. kiln then exits 130.`, io)
	var lf loadFlags
	lf.register(fs)
	var only, except globsFlag
	fs.Var(&only, "only", "build only the builds whose name matches one of these comma-separated `globs`")
	fs.Var(&except, "except", "skip the builds whose name matches one of these comma-separated `globs`")
	parallel := fs.Int("parallel-builds", 0, "run at most `N` builds at once; 0 means no limit")
	onError := fs.String("on-error", "cleanup", "`mode` after a failed step: cleanup, abort, ask or run-cleanup-provisioner")
	force := fs.Bool("force", false, "replace existing output (artifacts, images of the same name)")
	debug := fs.Bool("debug", false, "keep diagnostic material such as temporary private keys")
	timestamps := fs.Bool("timestamp-ui", false, "start every line with the time")
	color := fs.Bool("color", true, "colour output on a terminal")
	asJSON := fs.Bool("json", false, "print each event as one JSON object per line on stdout")
	machine := fs.Bool("machine-readable", false, "print Packer's machine-readable CSV lines on stdout")
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return usageError(fs, "expected one PATH, got %d", fs.NArg())
	}
	policy := step.Policy(*onError)
	switch policy {
	case step.Cleanup, step.Abort, step.Ask, step.RunCleanupProvisioner:
	default:
		return usageError(fs, "-on-error must be cleanup, abort, ask or run-cleanup-provisioner, not %q", *onError)
	}
	if *parallel < 0 {
		return usageError(fs, "-parallel-builds must not be negative")
	}
	if *asJSON && *machine {
		return usageError(fs, "-json and -machine-readable exclude each other")
	}
	if policy == step.Ask && (!io.inTTY || *asJSON || *machine) {
		return usageError(fs, "-on-error=ask needs a terminal on standard input and the text output")
	}

	colored := useColor(*color, io.outTTY, io) && !*asJSON && !*machine
	tpl, diags := loadTemplate(fs.Arg(0), lf.options()...)
	writeDiagnostics(io, tpl, diags, *color)
	if diags.HasErrors() {
		return exitUsage
	}

	opts := []kiln.Option{
		kiln.WithOnly(only...),
		kiln.WithExcept(except...),
		kiln.WithParallelBuilds(*parallel),
		kiln.WithOnError(policy),
		kiln.WithForce(*force),
		kiln.WithDebug(*debug),
	}
	// notify tells the person about an interrupt and what it does.
	var notify func(string)
	switch {
	case *asJSON:
		j := &jsonRenderer{w: io.out, errOut: io.errOut}
		opts = append(opts, kiln.WithEvents(j))
		notify = func(s string) { j.Emit(&event.Message{Meta: event.Meta{Time: time.Now()}, Level: event.Warn, Text: s}) }
	case *machine:
		m := newMachineRenderer(io.out)
		opts = append(opts, kiln.WithEvents(m))
		notify = m.notice
	default:
		t := newTextRenderer(io.out, colored, io.outTTY, *timestamps, termWidth(os.Stdout))
		opts = append(opts, kiln.WithEvents(t))
		notify = t.cancelling
		if policy == step.Ask {
			opts = append(opts, kiln.WithAsker(newTTYAsker(io.in, io.out, t.pause)))
		}
	}

	ctx, stop, interrupted := watchSignals(ctx, notify, io)
	defer stop()
	opts = append(opts, kiln.WithCleanupStop(interrupted.stopCleanup))
	res, err := kiln.Build(ctx, tpl, opts...)
	var planDiags hcl.Diagnostics
	switch {
	case res == nil && errors.As(err, &planDiags):
		writeDiagnostics(io, tpl, planDiags, *color)
		if interrupted.happened.Load() { // while data sources ran
			return exitInterrupted
		}
		return exitUsage
	case res == nil && err != nil:
		fmt.Fprintf(io.errOut, "kiln build: %v\n", err)
		return exitUsage
	case interrupted.happened.Load():
		return exitInterrupted
	case err != nil:
		return exitFailed
	}
	return exitOK
}

// interrupts records what interrupts did to a build.
type interrupts struct {
	// happened is set by the first interrupt, which cancels the build.
	happened atomic.Bool
	// stopCleanup is closed by the second, to stop cleanup.
	stopCleanup chan struct{}
}

// watchSignals turns interruptSignals (SIGINT, SIGTERM, SIGHUP) into the
// build's cancellation: the
// first cancels the returned context, the second stops cleanup (through
// kiln.WithCleanupStop), a third exits at once. notify tells the person each
// time. stop ends the watch.
func watchSignals(parent context.Context, notify func(string), io stdio) (ctx context.Context, stop func(), in *interrupts) {
	ctx, cancel := context.WithCancel(parent)
	in = &interrupts{stopCleanup: make(chan struct{})}
	sigs := make(chan os.Signal, 3)
	signal.Notify(sigs, interruptSignals...)
	done := make(chan struct{})
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
			case <-done:
				return
			}
			switch n {
			case 0:
				in.happened.Store(true)
				notify("Cancelling, cleaning up… (interrupt again to stop cleanup and leave resources behind)")
				cancel()
			case 1:
				notify("Stopping cleanup: what is not removed yet is left behind (interrupt again to exit at once)")
				close(in.stopCleanup)
			default:
				fmt.Fprintln(io.errOut, "kiln: exiting at once")
				os.Exit(exitInterrupted)
			}
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}, in
}
