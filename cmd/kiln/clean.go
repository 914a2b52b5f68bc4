package main

import (
	"context"
	"fmt"
	"os/signal"
	"time"

	"github.com/kilnhq/kiln"
)

func runClean(ctx context.Context, args []string, io stdio) int {
	fs := newFlagSet("clean", "[options]",
		`Removes the temporary resources that builds killed before their own cleanup
left behind: instances, launch templates, volumes, key pairs, security groups,
and unfinished images with their snapshots. They are found by kiln's tags
(kiln:build-id, kiln:expires-at) in the regions given, and from the local
journals of builds whose process is gone, in the regions those name.
It also removes what killed qemu builds left on this machine (temporary
directories holding the build's keys, staging directories beside the output,
qemu processes that outlived kiln), from their journals. Resources of builds
whose process still runs on this host are never touched. Credentials come from
the usual AWS sources (environment, shared config); with no region given or
configured, only the regions named in journals are swept.`, io)
	var regions listFlag
	fs.Var(&regions, "region", "sweep this `region` (repeatable; default $AWS_REGION or $AWS_DEFAULT_REGION)")
	olderThan := fs.Duration("older-than", 0, "also remove temporary resources created longer ago than this `duration` (\"6h\"), whatever their expiry")
	dryRun := fs.Bool("dry-run", false, "list what would be removed; remove nothing")
	journal := fs.Bool("journal", false, "remove only what the local journals of dead builds record")
	profile := fs.String("profile", "", "use this AWS shared config `profile`")
	if code := parseFlags(fs, args, io); code >= 0 {
		return code
	}
	if fs.NArg() != 0 {
		return usageError(fs, "clean takes no arguments")
	}
	if *olderThan < 0 {
		return usageError(fs, "-older-than must not be negative")
	}
	opts := kiln.CleanOptions{
		AWS:         kiln.AWS{Regions: regions, Profile: *profile},
		OlderThan:   *olderThan,
		DryRun:      *dryRun,
		JournalOnly: *journal,
		Events:      newTextRenderer(io.out, false, false, false, 0),
	}
	ctx, stop := signal.NotifyContext(ctx, interruptSignals...)
	defer stop()
	start := time.Now()
	rep, err := kiln.Clean(ctx, opts)
	if rep == nil {
		fmt.Fprintf(io.errOut, "kiln: %v\n", err)
		return exitFailed
	}
	verb := "Removed"
	if *dryRun {
		verb = "Would remove"
	}
	fmt.Fprintf(io.out, "%s %d temporary resources in %s", verb, len(rep.Removed), round(time.Since(start)))
	if len(rep.Failed) > 0 {
		fmt.Fprintf(io.out, "; %d could not be removed", len(rep.Failed))
	}
	fmt.Fprintln(io.out, ".")
	for _, b := range rep.LiveBuilds {
		fmt.Fprintf(io.out, "Left alone: build %s is still running.\n", b)
	}
	if err != nil {
		fmt.Fprintf(io.errOut, "kiln: %v\n", err)
		return exitFailed
	}
	return exitOK
}
