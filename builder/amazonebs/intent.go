package amazonebs

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/internal/awsutil"
)

// intentSkew is how much earlier than its journaled intent EC2 may date a
// resource made by that call (the clocks of this machine and of EC2
// differ).
const intentSkew = 2 * time.Minute

// intended looks up what the create call of intent e, made by build, may
// have left in its region although kiln never heard the answer: by the
// name or client token the intent recorded, and owned by build. Resources
// are tagged at creation, so the build's tag proves ownership; an image
// (a copy made by an EC2 that dropped the copy's tags) without any build
// tag counts as the build's when it is dated from the intent on, since
// its name was free when the call was made.
func intended(ctx context.Context, c EC2, build string, e awsutil.Entry) ([]CleanedResource, error) {
	var out []CleanedResource
	mine := func(kind, id string, tags []types.Tag) {
		if awsutil.TagValue(tags, awsutil.TagBuildID) == build {
			out = append(out, CleanedResource{Region: e.Region, Kind: kind, ID: id, Build: build})
		}
	}
	byName := func(filter string) []types.Filter {
		return []types.Filter{{Name: aws.String(filter), Values: []string{e.Token}}}
	}
	switch e.Kind {
	case kindImage:
		res, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}, Filters: byName("name")})
		if err != nil {
			return nil, fmt.Errorf("find image %q: %w", e.Token, err)
		}
		for _, img := range res.Images {
			if img.State == types.ImageStateDeregistered {
				continue
			}
			id := aws.ToString(img.ImageId)
			created, err := time.Parse(time.RFC3339, aws.ToString(img.CreationDate))
			if awsutil.TagValue(img.Tags, awsutil.TagBuildID) == "" && err == nil && !created.Before(e.Time.Add(-intentSkew)) {
				out = append(out, CleanedResource{Region: e.Region, Kind: kindImage, ID: id, Build: build})
				continue
			}
			mine(kindImage, id, img.Tags)
		}
	case kindInstance:
		// An instance's client token cannot be filtered on everywhere;
		// its build tag can, and the instances of a dead build are all
		// temporary.
		res, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{Filters: []types.Filter{
			{Name: aws.String("tag:" + awsutil.TagBuildID), Values: []string{build}},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running", "stopping", "stopped", "shutting-down"}},
		}})
		if err != nil {
			return nil, fmt.Errorf("find the instances of build %s: %w", build, err)
		}
		for _, r := range res.Reservations {
			for _, in := range r.Instances {
				mine(kindInstance, aws.ToString(in.InstanceId), in.Tags)
			}
		}
	case kindKeyPair:
		res, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: byName("key-name")})
		if err != nil {
			return nil, fmt.Errorf("find key pair %s: %w", e.Token, err)
		}
		for _, k := range res.KeyPairs {
			mine(kindKeyPair, aws.ToString(k.KeyName), k.Tags)
		}
	case kindSecurityGroup:
		res, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: byName("group-name")})
		if err != nil {
			return nil, fmt.Errorf("find security group %s: %w", e.Token, err)
		}
		for _, g := range res.SecurityGroups {
			mine(kindSecurityGroup, aws.ToString(g.GroupId), g.Tags)
		}
	case kindLaunchTemplate:
		res, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{Filters: byName("launch-template-name")})
		if err != nil {
			return nil, fmt.Errorf("find launch template %s: %w", e.Token, err)
		}
		for _, lt := range res.LaunchTemplates {
			mine(kindLaunchTemplate, aws.ToString(lt.LaunchTemplateId), lt.Tags)
		}
	default:
		return nil, fmt.Errorf("cannot look up a %s by %q", e.Kind, e.Token)
	}
	return out, nil
}
