package amazonebs

import (
	"context"
	"encoding/base64"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// launchFake records the requests of the launch-related steps.
type launchFake struct {
	fakeEC2
	run       *ec2.RunInstancesInput
	sg        *ec2.CreateSecurityGroupInput
	ingress   *ec2.AuthorizeSecurityGroupIngressInput
	states    []types.InstanceStateName
	describes atomic.Int32
}

func (f *launchFake) RunInstances(_ context.Context, in *ec2.RunInstancesInput, _ ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	f.run = in
	return &ec2.RunInstancesOutput{Instances: []types.Instance{{InstanceId: aws.String("i-1")}}}, nil
}

func (f *launchFake) DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	n := int(f.describes.Add(1)) - 1
	st := f.states[min(n, len(f.states)-1)]
	in := types.Instance{InstanceId: aws.String("i-1"), State: &types.InstanceState{Name: st}, PrivateIpAddress: aws.String("10.0.0.5")}
	return &ec2.DescribeInstancesOutput{Reservations: []types.Reservation{{Instances: []types.Instance{in}}}}, nil
}

func (f *launchFake) StopInstances(context.Context, *ec2.StopInstancesInput, ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	f.record("StopInstances")
	return &ec2.StopInstancesOutput{}, nil
}

func (f *launchFake) DescribeVpcs(context.Context, *ec2.DescribeVpcsInput, ...func(*ec2.Options)) (*ec2.DescribeVpcsOutput, error) {
	return &ec2.DescribeVpcsOutput{Vpcs: []types.Vpc{{VpcId: aws.String("vpc-d"), CidrBlock: aws.String("172.31.0.0/16")}}}, nil
}

func (f *launchFake) CreateSecurityGroup(_ context.Context, in *ec2.CreateSecurityGroupInput, _ ...func(*ec2.Options)) (*ec2.CreateSecurityGroupOutput, error) {
	f.sg = in
	return &ec2.CreateSecurityGroupOutput{GroupId: aws.String("sg-1")}, nil
}

func (f *launchFake) AuthorizeSecurityGroupIngress(_ context.Context, in *ec2.AuthorizeSecurityGroupIngressInput, _ ...func(*ec2.Options)) (*ec2.AuthorizeSecurityGroupIngressOutput, error) {
	f.ingress = in
	return &ec2.AuthorizeSecurityGroupIngressOutput{}, nil
}

func newLaunchState(t *testing.T, cfg Config, f *launchFake) *state {
	s := unitState(t, cfg, map[string]*fakeEC2{})
	s.ec2 = f
	s.clients = func(context.Context, string) (EC2, error) { return f, nil }
	return s
}

func TestLaunchRequest(t *testing.T) {
	f := &launchFake{states: []types.InstanceStateName{"pending", "pending", "running"}}
	s := newLaunchState(t, Config{InstanceType: "t3.micro", RunTags: map[string]string{"Team": "web"}}, f)
	s.source = types.Image{ImageId: aws.String("ami-src")}
	s.sgIDs, s.keyName, s.userData = []string{"sg-1"}, "kiln_unit", "#cloud-config\n"
	if err := stepLaunch(context.Background(), s, &step.Undo{}); err != nil {
		t.Fatal(err)
	}
	in := f.run
	if aws.ToString(in.ClientToken) == "" || in.MetadataOptions.HttpTokens != types.HttpTokensStateRequired {
		t.Errorf("client token %q, http tokens %q", aws.ToString(in.ClientToken), in.MetadataOptions.HttpTokens)
	}
	ud, _ := base64.StdEncoding.DecodeString(aws.ToString(in.UserData))
	if string(ud) != "#cloud-config\n" {
		t.Errorf("user data %q", ud)
	}
	kinds := map[types.ResourceType]map[string]string{}
	for _, ts := range in.TagSpecifications {
		kinds[ts.ResourceType] = tagMap(ts.Tags)
	}
	if kinds["instance"]["Team"] != "web" || kinds["instance"][awsutil.TagBuildID] != "unit" || kinds["volume"][awsutil.TagTemporary] != "true" {
		t.Errorf("tag specifications %v", kinds)
	}
	if aws.ToString(s.instance.InstanceId) != "i-1" || f.describes.Load() != 3 {
		t.Errorf("instance %v after %d describes", s.instance.InstanceId, f.describes.Load())
	}
	if host, _ := s.sshHost(); host != "10.0.0.5" {
		t.Errorf("ssh host %q, want the private IP when there is no public one", host)
	}
}

func TestLaunchFailsOnTerminatedInstance(t *testing.T) {
	f := &launchFake{states: []types.InstanceStateName{"pending", "terminated"}}
	s := newLaunchState(t, Config{InstanceType: "t3.micro"}, f)
	s.source = types.Image{ImageId: aws.String("ami-src")}
	u := &step.Undo{}
	err := stepLaunch(context.Background(), s, u)
	if err == nil || !strings.Contains(err.Error(), "terminated") {
		t.Fatalf("err = %v", err)
	}
}

func TestStopWaitsUntilStopped(t *testing.T) {
	f := &launchFake{states: []types.InstanceStateName{"stopping", "stopping", "stopped"}}
	s := newLaunchState(t, Config{}, f)
	s.instance = types.Instance{InstanceId: aws.String("i-1")}
	if err := stepStop(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	if f.describes.Load() != 3 || strings.Join(f.calls, ",") != "StopInstances" {
		t.Errorf("describes %d, calls %v", f.describes.Load(), f.calls)
	}
	f = &launchFake{states: []types.InstanceStateName{"shutting-down"}}
	s = newLaunchState(t, Config{ShutdownBehavior: "terminate"}, f)
	s.instance = types.Instance{InstanceId: aws.String("i-1")}
	if err := stepStop(context.Background(), s, nil); err == nil || !strings.Contains(err.Error(), "shutdown_behavior") {
		t.Errorf("err = %v", err)
	}
}

func TestSecurityGroupRequest(t *testing.T) {
	f := &launchFake{}
	cfg := Config{TempSGSourceCIDRs: []string{"198.51.100.0/24", "2001:db8::/32"}}
	cfg.Comm.Port = 2222
	s := newLaunchState(t, cfg, f)
	u := &step.Undo{}
	if err := stepSecurityGroup(context.Background(), s, u); err != nil {
		t.Fatal(err)
	}
	if aws.ToString(f.sg.VpcId) != "vpc-d" || tagMap(f.sg.TagSpecifications[0].Tags)[awsutil.TagTemporary] != "true" {
		t.Errorf("create: vpc %s tags %v", aws.ToString(f.sg.VpcId), f.sg.TagSpecifications)
	}
	p := f.ingress.IpPermissions[0]
	if aws.ToInt32(p.FromPort) != 2222 || len(p.IpRanges) != 1 || aws.ToString(p.IpRanges[0].CidrIp) != "198.51.100.0/24" ||
		len(p.Ipv6Ranges) != 1 || aws.ToString(p.Ipv6Ranges[0].CidrIpv6) != "2001:db8::/32" {
		t.Errorf("ingress %+v", p)
	}
	if strings.Join(s.sgIDs, ",") != "sg-1" {
		t.Errorf("security groups %v", s.sgIDs)
	}
}

func TestSourceAMI(t *testing.T) {
	imgs := []types.Image{
		{ImageId: aws.String("ami-old"), CreationDate: aws.String("2024-01-01T00:00:00.000Z"), RootDeviceType: types.DeviceTypeEbs},
		{ImageId: aws.String("ami-new"), CreationDate: aws.String("2025-06-01T00:00:00.000Z"), RootDeviceType: types.DeviceTypeEbs},
	}
	f := &fakeEC2{describeImages: func(in *ec2.DescribeImagesInput) (*ec2.DescribeImagesOutput, error) {
		if len(in.Owners) != 1 || len(in.Filters) != 1 {
			t.Errorf("request %+v", in)
		}
		return &ec2.DescribeImagesOutput{Images: imgs}, nil
	}}
	filter := &AMIFilter{Filters: map[string]string{"name": "debian-*"}, Owners: []string{"136693071363"}}
	s := unitState(t, Config{SourceAMIFilter: filter}, map[string]*fakeEC2{"us-east-1": f})
	if err := stepSourceAMI(context.Background(), s, nil); err == nil || !strings.Contains(err.Error(), "most_recent") {
		t.Errorf("two matches without most_recent: %v", err)
	}
	filter.MostRecent = true
	if err := stepSourceAMI(context.Background(), s, nil); err != nil || aws.ToString(s.source.ImageId) != "ami-new" {
		t.Errorf("most recent: %v, %v", aws.ToString(s.source.ImageId), err)
	}
	imgs = imgs[:1]
	imgs[0].RootDeviceType = types.DeviceTypeInstanceStore
	if err := stepSourceAMI(context.Background(), s, nil); err == nil || !strings.Contains(err.Error(), "EBS-backed") {
		t.Errorf("instance-store source: %v", err)
	}
}

func TestPickSubnet(t *testing.T) {
	subnets := []types.Subnet{
		{SubnetId: aws.String("a"), AvailableIpAddressCount: aws.Int32(5)},
		{SubnetId: aws.String("b"), AvailableIpAddressCount: aws.Int32(50)},
	}
	if s, err := pickSubnet(subnets, &SubnetFilter{MostFree: true}); err != nil || aws.ToString(s.SubnetId) != "b" {
		t.Errorf("most_free: %v %v", s.SubnetId, err)
	}
	if _, err := pickSubnet(subnets, &SubnetFilter{}); err == nil {
		t.Error("two subnets without most_free or random were accepted")
	}
	if _, err := pickSubnet(nil, &SubnetFilter{}); err == nil {
		t.Error("no subnet was accepted")
	}
}
