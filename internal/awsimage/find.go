package awsimage

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Filter is Packer's AMI filter block: amazon-ebs's source_ami_filter and
// the body of data "amazon-ami".
type Filter struct {
	// Filters are EC2 DescribeImages filters, one pattern per name.
	Filters map[string]string `hcl:"filters,optional"`
	// Owners are account IDs or aliases ("self", "amazon").
	Owners []string `hcl:"owners,optional"`
	// MostRecent picks the newest image when several match; without it
	// several matches are an error.
	MostRecent        bool `hcl:"most_recent,optional"`
	IncludeDeprecated bool `hcl:"include_deprecated,optional"`
}

// DescribeImagesAPI is the EC2 call Find makes.
type DescribeImagesAPI interface {
	DescribeImages(ctx context.Context, in *ec2.DescribeImagesInput, opts ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
}

// Find returns the one image that id (when not "") and f (when not nil)
// select. No match is an error, and so are several unless f.MostRecent,
// which picks the newest by creation date; errors say what was looked for.
func Find(ctx context.Context, c DescribeImagesAPI, id string, f *Filter) (types.Image, error) {
	in := &ec2.DescribeImagesInput{}
	if id != "" {
		in.ImageIds = []string{id}
	}
	if f != nil {
		in.Filters = EC2Filters(f.Filters)
		in.Owners = f.Owners
		if f.IncludeDeprecated {
			in.IncludeDeprecated = aws.Bool(true)
		}
	}
	out, err := c.DescribeImages(ctx, in)
	if err != nil {
		return types.Image{}, fmt.Errorf("describe images with %s: %w", Describe(id, f), err)
	}
	images := out.Images
	if len(images) == 0 {
		return types.Image{}, fmt.Errorf("no image matches %s", Describe(id, f))
	}
	if len(images) > 1 {
		if f == nil || !f.MostRecent {
			return types.Image{}, fmt.Errorf("%d images match %s; set most_recent = true or narrow the filter", len(images), Describe(id, f))
		}
		images = slices.Clone(images)
		sort.SliceStable(images, func(i, j int) bool {
			return aws.ToString(images[i].CreationDate) > aws.ToString(images[j].CreationDate)
		})
	}
	return images[0], nil
}

// Describe says what id and f look for, for errors: `id ami-1 and filters
// {name=debian-*} owners [136693071363]`.
func Describe(id string, f *Filter) string {
	var parts []string
	if id != "" {
		parts = append(parts, "id "+id)
	}
	if f != nil {
		keys := make([]string, 0, len(f.Filters))
		for _, k := range slices.Sorted(maps.Keys(f.Filters)) {
			keys = append(keys, k+"="+f.Filters[k])
		}
		parts = append(parts, fmt.Sprintf("filters {%s} owners %v", strings.Join(keys, ", "), f.Owners))
	}
	return strings.Join(parts, " and ")
}

// EC2Filters turns a Packer filters map into EC2 filters, sorted by name. A
// value is a single pattern, as in Packer.
func EC2Filters(m map[string]string) []types.Filter {
	out := make([]types.Filter, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, types.Filter{Name: aws.String(k), Values: []string{m[k]}})
	}
	return out
}
