package kiln

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/family/awscatalog"
)

// CatalogOptions says which catalog of image families OpenCatalog opens.
type CatalogOptions struct {
	// Dir, when set, is an output root (such as output-web) whose local
	// images, each in a directory with its kiln-image.json, are the
	// catalog; AWS is then not used.
	Dir string
	// AWS says where the families' AMIs (tagged kiln:family) and channels
	// (SSM parameters /kiln/FAMILY/CHANNEL) are: images are looked for in
	// every region, channels are kept in the first.
	AWS AWS
}

// Catalog holds the versions of image families and their channels: the
// AMIs of a family on AWS, or the local images below an output root.
type Catalog struct {
	cat family.Catalog
}

// FamilyImage is one version of a family, with the channels that point at
// it.
type FamilyImage struct {
	family.Image
	// Channels are the names of the channels that point at this version,
	// sorted.
	Channels []string
}

// OpenCatalog opens the local catalog in opts.Dir, or else the AWS catalog
// of opts.AWS.
func OpenCatalog(ctx context.Context, opts CatalogOptions) (*Catalog, error) {
	if opts.Dir != "" {
		if _, err := os.Stat(opts.Dir); err != nil {
			return nil, fmt.Errorf("output root: %w", err)
		}
		return &Catalog{cat: &family.Local{Root: opts.Dir}}, nil
	}
	access := opts.AWS.access()
	cfg, err := access.Load(ctx, "")
	if err != nil {
		return nil, err
	}
	cat, err := awscatalog.NewFromConfig(cfg, "", opts.AWS.Regions...)
	if err != nil {
		return nil, err
	}
	return &Catalog{cat: cat}, nil
}

// Images returns fam's versions, oldest first, each with its channels.
func (c *Catalog) Images(ctx context.Context, fam string) ([]FamilyImage, error) {
	imgs, err := c.cat.Images(ctx, fam)
	if err != nil {
		return nil, err
	}
	chs, err := c.cat.Channels(ctx, fam)
	if err != nil {
		return nil, err
	}
	byVersion := map[string][]string{}
	for _, ch := range slices.Sorted(maps.Keys(chs)) {
		byVersion[chs[ch]] = append(byVersion[chs[ch]], ch)
	}
	out := make([]FamilyImage, 0, len(imgs))
	for _, img := range imgs {
		out = append(out, FamilyImage{Image: img, Channels: byVersion[img.Version]})
	}
	return out, nil
}

// Promote points channel at fam's version (on AWS, in every region the
// version is in) and returns that image. A version whose test failed is
// refused.
func (c *Catalog) Promote(ctx context.Context, fam, version, channel string) (family.Image, error) {
	return family.Promote(ctx, c.cat, fam, version, channel)
}

// Rollback points channel back at the version it pointed at before its
// current one, and returns that image.
func (c *Catalog) Rollback(ctx context.Context, fam, channel string) (family.Image, error) {
	return family.Rollback(ctx, c.cat, fam, channel)
}

// Prune removes fam's versions beyond the newest keep, except those a
// channel points at or something runs, with their snapshots; with dryRun
// it removes nothing. It returns the decision for every version, oldest
// first, also when removing one failed.
func (c *Catalog) Prune(ctx context.Context, fam string, keep int, dryRun bool) ([]family.Decision, error) {
	return family.Prune(ctx, c.cat, fam, keep, dryRun)
}
