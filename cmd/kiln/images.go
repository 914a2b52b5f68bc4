package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os/signal"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kilnhq/kiln"
	"github.com/kilnhq/kiln/family"
)

const imagesDesc = `Manages the versions of an image family (a build's family block): on AWS,
AMIs tagged kiln:family and SSM parameters /kiln/FAMILY/CHANNEL; with -dir,
the local qcow2 images below an output root (such as output-FAMILY).`

const imagesUsage = `Usage: kiln images <list|promote|rollback|prune> FAMILY [args] [options]

` + imagesDesc + `

  list FAMILY                        versions, status, inputs, regions and IDs, channels
  promote FAMILY VERSION -channel C  point channel C at VERSION (in every region it is in)
  rollback FAMILY -channel C         point channel C back at the version before its current one
  prune FAMILY -keep N [-dry-run]    remove versions beyond the newest N, except those a
                                     channel points at or something runs (with their snapshots)

Run "kiln images <command> -h" for the options of a command.
`

func runImages(ctx context.Context, args []string, io stdio) int {
	if len(args) == 0 {
		fmt.Fprint(io.errOut, imagesUsage)
		return exitUsage
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(io.out, imagesUsage)
		return exitOK
	case "list", "promote", "rollback", "prune":
	default:
		fmt.Fprintf(io.errOut, "kiln images: unknown command %q\n\n%s", sub, imagesUsage)
		return exitUsage
	}
	usage := map[string]string{
		"list":     "list FAMILY [options]",
		"promote":  "promote FAMILY VERSION -channel C [options]",
		"rollback": "rollback FAMILY -channel C [options]",
		"prune":    "prune FAMILY -keep N [-dry-run] [options]",
	}[sub]
	fs := newFlagSet("images", usage, imagesDesc, io)
	var regions listFlag
	fs.Var(&regions, "region", "AWS `region` of the family's images (repeatable; the first holds the channels; default $AWS_REGION)")
	profile := fs.String("profile", "", "use this AWS shared config `profile`")
	dir := fs.String("dir", "", "use the local images below this output root `directory` instead of AWS")
	asJSON := fs.Bool("json", false, "list: print JSON")
	channel := fs.String("channel", "", "promote, rollback: the `channel`")
	keep := fs.Int("keep", 0, "prune: how many of the newest versions to keep (at least 1)")
	dryRun := fs.Bool("dry-run", false, "prune: show what would be removed; remove nothing")
	pos, code := parseInterspersed(fs, args, io)
	if code >= 0 {
		return code
	}
	want := map[string]int{"list": 1, "promote": 2, "rollback": 1, "prune": 1}[sub]
	if len(pos) != want {
		return usageError(fs, "images %s takes %d argument(s), got %d", sub, want, len(pos))
	}
	switch {
	case (sub == "promote" || sub == "rollback") && *channel == "":
		return usageError(fs, "images %s needs -channel", sub)
	case sub == "prune" && *keep < 1:
		return usageError(fs, "images prune needs -keep N with N at least 1")
	}
	ctx, stop := signal.NotifyContext(ctx, interruptSignals...)
	defer stop()
	cat, err := kiln.OpenCatalog(ctx, kiln.CatalogOptions{Dir: *dir, AWS: kiln.AWS{Regions: regions, Profile: *profile}})
	if err != nil {
		fmt.Fprintf(io.errOut, "kiln: %v\n", err)
		return exitFailed
	}
	fam := pos[0]
	switch sub {
	case "list":
		err = listImages(ctx, cat, fam, *asJSON, io)
	case "promote":
		var img family.Image
		if img, err = cat.Promote(ctx, fam, pos[1], *channel); err == nil {
			fmt.Fprintf(io.out, "Channel %s of %s now points at %s (%s).\n", *channel, fam, img.Version, ids(img))
		}
	case "rollback":
		var img family.Image
		if img, err = cat.Rollback(ctx, fam, *channel); err == nil {
			fmt.Fprintf(io.out, "Channel %s of %s rolled back to %s (%s).\n", *channel, fam, img.Version, ids(img))
		}
	case "prune":
		err = prune(ctx, cat, fam, *keep, *dryRun, io)
	}
	if err != nil {
		fmt.Fprintf(io.errOut, "kiln: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// parseInterspersed parses flags given before, between and after the
// positional arguments, and returns those.
func parseInterspersed(fs *flag.FlagSet, args []string, io stdio) ([]string, int) {
	var pos []string
	for {
		if code := parseFlags(fs, args, io); code >= 0 {
			return nil, code
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, -1
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// imageJSON is one version in kiln images list -json.
type imageJSON struct {
	Version  string            `json:"version"`
	Name     string            `json:"name"`
	Status   string            `json:"status"`
	Inputs   string            `json:"inputs"`
	Created  time.Time         `json:"created"`
	IDs      map[string]string `json:"ids"`
	Channels []string          `json:"channels"`
	Tags     map[string]string `json:"tags"`
}

func listImages(ctx context.Context, cat *kiln.Catalog, fam string, asJSON bool, io stdio) error {
	imgs, err := cat.Images(ctx, fam)
	if err != nil {
		return err
	}
	if asJSON {
		out := make([]imageJSON, 0, len(imgs))
		for _, img := range imgs {
			out = append(out, imageJSON{
				Version: img.Version, Name: img.Name, Status: img.Status, Inputs: img.Inputs, Created: img.Created,
				IDs: img.IDs, Channels: append([]string{}, img.Channels...), Tags: img.Tags,
			})
		}
		enc := json.NewEncoder(io.out)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(imgs) == 0 {
		fmt.Fprintf(io.out, "Family %s has no images.\n", fam)
		return nil
	}
	tw := tabwriter.NewWriter(io.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tSTATUS\tINPUTS\tCREATED\tIMAGES\tCHANNELS")
	for _, img := range imgs {
		created := "-"
		if !img.Created.IsZero() {
			created = img.Created.UTC().Format("2006-01-02 15:04")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", img.Version, or(img.Status, "-"), shortDigest(img.Inputs), created, ids(img.Image),
			or(strings.Join(img.Channels, ","), "-"))
	}
	return tw.Flush()
}

func prune(ctx context.Context, cat *kiln.Catalog, fam string, keep int, dryRun bool, io stdio) error {
	plan, err := cat.Prune(ctx, fam, keep, dryRun)
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	n := 0
	for _, d := range plan {
		what := "keep  "
		if d.Remove {
			what = "remove"
			n++
		}
		fmt.Fprintf(io.out, "%s %s  %s  (%s)\n", what, d.Image.Version, ids(d.Image), d.Reason)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(io.out, "Prune %s: %s %d of %d versions.\n", fam, verb, n, len(plan))
	return nil
}

// ids renders an image's IDs as "region:id,…".
func ids(img family.Image) string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(img.IDs)) {
		if r == family.LocalRegion {
			parts = append(parts, img.IDs[r])
			continue
		}
		parts = append(parts, r+":"+img.IDs[r])
	}
	return strings.Join(parts, ",")
}

func shortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		d = d[:12]
	}
	return or(d, "-")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
