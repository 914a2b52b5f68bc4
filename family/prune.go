package family

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Decision is what a prune does with one version.
type Decision struct {
	Image Image
	// Remove is true when the version goes.
	Remove bool
	// Reason says why it stays or goes.
	Reason string
}

// PlanPrune decides, for a family's images (any order), which go when keep
// versions are kept: the newest keep versions by semver stay; of the older
// ones, those a channel points at (channels: channel → version) or that are
// in use (inUse: version → reason) stay too, the others go. The result is
// oldest first. keep < 1 is treated as 1: the newest version always stays.
func PlanPrune(imgs []Image, keep int, channels map[string]string, inUse map[string]string) []Decision {
	keep = max(keep, 1)
	sorted := slices.Clone(imgs)
	SortImages(sorted)
	pointed := map[string][]string{}
	for ch, v := range channels {
		pointed[v] = append(pointed[v], ch)
	}
	out := make([]Decision, len(sorted))
	for i, img := range sorted {
		d := Decision{Image: img}
		newer := len(sorted) - 1 - i
		switch {
		case newer < keep:
			d.Reason = fmt.Sprintf("among the newest %d", keep)
		case len(pointed[img.Version]) > 0:
			chs := pointed[img.Version]
			slices.Sort(chs)
			d.Reason = "channel " + strings.Join(chs, ", ") + " points at it"
		case inUse[img.Version] != "":
			d.Reason = "in use: " + inUse[img.Version]
		default:
			d.Remove = true
			d.Reason = fmt.Sprintf("older than the newest %d", keep)
		}
		out[i] = d
	}
	return out
}

// Prune removes family's versions beyond keep from c (see PlanPrune). With
// dryRun it removes nothing. It returns every decision; on error, those
// made before it.
func Prune(ctx context.Context, c Catalog, family string, keep int, dryRun bool) ([]Decision, error) {
	imgs, err := c.Images(ctx, family)
	if err != nil {
		return nil, err
	}
	channels, err := c.Channels(ctx, family)
	if err != nil {
		return nil, err
	}
	inUse, err := c.InUse(ctx, family)
	if err != nil {
		return nil, err
	}
	plan := PlanPrune(imgs, keep, channels, inUse)
	if dryRun {
		return plan, nil
	}
	for _, d := range plan {
		if !d.Remove {
			continue
		}
		if err := c.Delete(ctx, d.Image); err != nil {
			return plan, fmt.Errorf("prune %s %s: %w", family, d.Image.Version, err)
		}
	}
	return plan, nil
}
