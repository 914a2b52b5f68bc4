package testmoto

import (
	"context"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// Leftovers describes everything a build could have left in c's region:
// instances not terminated, key pairs, security groups other than the
// default, volumes, launch templates, and the images and snapshots the
// account owns. Each is one line ("key pair kiln-abc"). moto's catalog
// snapshots belong to the account too, so compare against a baseline taken
// before the build.
func Leftovers(t testing.TB, c *ec2.Client) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	ins, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatalf("describe instances: %v", err)
	}
	for _, r := range ins.Reservations {
		for _, in := range r.Instances {
			if in.State.Name != types.InstanceStateNameTerminated {
				left = append(left, fmt.Sprintf("instance %s (%s)", aws.ToString(in.InstanceId), in.State.Name))
			}
		}
	}
	keys, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{})
	if err != nil {
		t.Fatalf("describe key pairs: %v", err)
	}
	for _, k := range keys.KeyPairs {
		left = append(left, "key pair "+aws.ToString(k.KeyName))
	}
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{})
	if err != nil {
		t.Fatalf("describe security groups: %v", err)
	}
	for _, g := range groups.SecurityGroups {
		if aws.ToString(g.GroupName) != "default" {
			left = append(left, "security group "+aws.ToString(g.GroupId)+" "+aws.ToString(g.GroupName))
		}
	}
	vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{})
	if err != nil {
		t.Fatalf("describe volumes: %v", err)
	}
	for _, v := range vols.Volumes {
		left = append(left, fmt.Sprintf("volume %s (%s)", aws.ToString(v.VolumeId), v.State))
	}
	lts, err := c.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
	if err != nil {
		t.Fatalf("describe launch templates: %v", err)
	}
	for _, lt := range lts.LaunchTemplates {
		left = append(left, "launch template "+aws.ToString(lt.LaunchTemplateId))
	}
	imgs, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{Owners: []string{"self"}})
	if err != nil {
		t.Fatalf("describe images: %v", err)
	}
	for _, img := range imgs.Images {
		left = append(left, "image "+aws.ToString(img.ImageId))
	}
	snaps, err := c.DescribeSnapshots(ctx, &ec2.DescribeSnapshotsInput{OwnerIds: []string{"self"}})
	if err != nil {
		t.Fatalf("describe snapshots: %v", err)
	}
	for _, s := range snaps.Snapshots {
		left = append(left, "snapshot "+aws.ToString(s.SnapshotId))
	}
	return left
}
