package amazonebs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Artifact is the result of an amazon-ebs build: one AMI per region.
type Artifact struct {
	// Images maps each region to its AMI ID.
	Images map[string]string
	// Snapshots maps each region to the AMI's snapshot IDs there.
	Snapshots map[string][]string
	// Tags are the tags applied to the AMI in the build region (with
	// skip_save_build_region, in the first region of ami_regions).
	Tags map[string]string
	// BuildRegion is where the image was made; the others are copies.
	BuildRegion string
	// SourceAMI and SourceAMIName identify the image it was built from.
	SourceAMI, SourceAMIName string

	clients ClientFunc
	remover remover
}

func (s *state) artifact() *Artifact {
	kept := s.kept()
	tags, _ := s.imageTags(kept[0]) // rendered once already in stepTag
	images, snapshots := map[string]string{}, map[string][]string{}
	for _, r := range kept {
		images[r], snapshots[r] = s.images[r], s.snapshots[r]
	}
	return &Artifact{
		Images:        images,
		Snapshots:     snapshots,
		Tags:          tags,
		BuildRegion:   s.region,
		SourceAMI:     aws.ToString(s.source.ImageId),
		SourceAMIName: aws.ToString(s.source.Name),
		clients:       s.clients,
		remover:       s.remover(),
	}
}

// BuilderType returns "amazon-ebs".
func (a *Artifact) BuilderType() string { return Type }

// ID returns "region:ami-…" pairs joined by commas, sorted by region, as
// Packer writes them.
func (a *Artifact) ID() string {
	var parts []string
	for _, r := range slices.Sorted(maps.Keys(a.Images)) {
		parts = append(parts, r+":"+a.Images[r])
	}
	return strings.Join(parts, ",")
}

// Files returns nil: an AMI has no local files.
func (a *Artifact) Files() []string { return nil }

// String describes the AMIs.
func (a *Artifact) String() string {
	var b strings.Builder
	b.WriteString("AMIs were created:\n")
	for _, r := range slices.Sorted(maps.Keys(a.Images)) {
		fmt.Fprintf(&b, "%s: %s\n", r, a.Images[r])
	}
	return b.String()
}

// State exposes typed data: "region_images" (map[string]string),
// "snapshots" (map[string][]string), "tags" (map[string]string),
// "source_image" and "source_ami" (string), "source_ami_name" (string),
// "build_region" (string).
func (a *Artifact) State(key string) any {
	switch key {
	case "region_images":
		return maps.Clone(a.Images)
	case "snapshots":
		return maps.Clone(a.Snapshots)
	case "tags":
		return maps.Clone(a.Tags)
	case "source_image", "source_ami":
		return a.SourceAMI
	case "source_ami_name":
		return a.SourceAMIName
	case "build_region":
		return a.BuildRegion
	}
	return nil
}

// Destroy deregisters every AMI and deletes its snapshots.
func (a *Artifact) Destroy(ctx context.Context) error {
	var errs []error
	for _, r := range slices.Sorted(maps.Keys(a.Images)) {
		c, err := a.clients(ctx, r)
		if err == nil {
			err = a.remover.image(ctx, c, a.Images[r])
		}
		if err != nil {
			errs = append(errs, regionalError(r, "destroy image "+a.Images[r], err))
		}
	}
	return errors.Join(errs...)
}
