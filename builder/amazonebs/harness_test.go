package amazonebs

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/kilnhq/kiln/internal/testmoto"
)

// faults makes the Nth call of an EC2 operation fail once with an API
// error, for failure injection.
type faults struct {
	mu     sync.Mutex
	op     string
	nth    int
	calls  int
	failed bool
}

func (f *faults) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kilnFault", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		if f.hit(awsmiddleware.GetOperationName(ctx)) {
			return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "InjectedFailure", Message: "injected by the test"}
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.Before)
}

func (f *faults) hit(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed || op != f.op {
		return false
	}
	f.calls++
	if f.calls == f.nth {
		f.failed = true
		return true
	}
	return false
}

// motoClients returns a ClientFunc for moto with optional fault injection.
func motoClients(moto *testmoto.Server, f *faults) ClientFunc {
	var mu sync.Mutex
	clients := map[string]EC2{}
	return func(_ context.Context, region string) (EC2, error) {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := clients[region]; ok {
			return c, nil
		}
		c := ec2.NewFromConfig(moto.Config(region), func(o *ec2.Options) {
			if f != nil {
				o.APIOptions = append(o.APIOptions, f.middleware)
			}
		})
		clients[region] = c
		return c, nil
	}
}

// parseBody parses HCL attributes into a body, as a source block's body.
func parseBody(t testing.TB, src string) hcl.Body {
	t.Helper()
	f, diags := hclsyntax.ParseConfig([]byte(src), "test.pkr.hcl", hcl.InitialPos)
	if diags.HasErrors() {
		t.Fatalf("parse: %s", diags.Error())
	}
	return f.Body
}

// catalogAMI returns an EBS-backed Linux image from moto's catalog.
func catalogAMI(t testing.TB, c *ec2.Client) string {
	t.Helper()
	out, err := c.DescribeImages(context.Background(), &ec2.DescribeImagesInput{Filters: []types.Filter{
		{Name: aws.String("root-device-type"), Values: []string{"ebs"}},
		{Name: aws.String("name"), Values: []string{"*ubuntu*"}},
	}})
	if err != nil || len(out.Images) == 0 {
		t.Fatalf("find a catalog image in moto: %v (%d found)", err, len(out.Images))
	}
	return aws.ToString(out.Images[0].ImageId)
}

// leftovers describes everything kiln could have left in region.
func leftovers(t testing.TB, c *ec2.Client) []string {
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
