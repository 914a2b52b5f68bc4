package amazonebs

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/awsutil"
)

// TestAcceptance builds a real AMI in a real AWS account. It costs money
// and runs only with KILN_ACC=1, never in CI:
//
//	KILN_ACC=1 KILN_ACC_REGION=eu-west-1 go test -run TestAcceptance -v ./builder/amazonebs
//
// Credentials come from the standard chain (AWS_PROFILE, environment, SSO).
// The image is a Debian 12 build that is destroyed at the end; the test then
// checks that nothing tagged with its build ID is left in the region.
func TestAcceptance(t *testing.T) {
	if os.Getenv("KILN_ACC") != "1" {
		t.Skip("acceptance test against real AWS: set KILN_ACC=1 to run it")
	}
	region := os.Getenv("KILN_ACC_REGION")
	if region == "" {
		region = "us-east-1"
	}
	b, diags := New(parseBody(t, fmt.Sprintf(`
region        = %q
instance_type = "t3.micro"
source_ami_filter {
  filters = {
    name                = "debian-12-amd64-*"
    architecture        = "x86_64"
    virtualization-type = "hvm"
  }
  owners      = ["136693071363"]
  most_recent = true
}
ami_name     = "kiln-acc-{{ timestamp }}"
ssh_username = "admin"
temporary_security_group_source_public_ip = true
tags = { Name = "kiln acceptance", Source = "{{ .SourceAMIName }}" }
`, region)), nil)
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	build := fmt.Sprintf("acc-%d", time.Now().Unix())
	env := &builder.Env{Info: builder.Info{Name: "acc.amazon-ebs.main", Type: Type, ID: build, Started: time.Now()}, Events: &eventtest.Recorder{Logf: t.Logf}}
	hook := builder.HookFunc(func(ctx context.Context, comm communicator.Communicator, _ map[string]string) error {
		return comm.Run(ctx, &communicator.Cmd{Command: "uname -a && cloud-init status --wait"})
	})
	ctx := context.Background()
	art, err := b.Run(ctx, env, hook)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Logf("built %s", art.ID())
	if err := art.(*Artifact).Destroy(ctx); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	c, err := NewClients(&awsutil.AccessConfig{Region: region})(ctx, region)
	if err != nil {
		t.Fatal(err)
	}
	mine := []types.Filter{{Name: aws.String("tag:" + awsutil.TagBuildID), Values: []string{build}}}
	keys, err := c.DescribeKeyPairs(ctx, &ec2.DescribeKeyPairsInput{Filters: mine})
	if err != nil || len(keys.KeyPairs) > 0 {
		t.Errorf("key pairs left: %v %v", keys, err)
	}
	groups, err := c.DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{Filters: mine})
	if err != nil || len(groups.SecurityGroups) > 0 {
		t.Errorf("security groups left: %v %v", groups, err)
	}
	vols, err := c.DescribeVolumes(ctx, &ec2.DescribeVolumesInput{Filters: mine})
	if err != nil || len(vols.Volumes) > 0 {
		t.Errorf("volumes left: %v %v", vols, err)
	}
}
