package amazonebs

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/event/eventtest"
	"github.com/kilnhq/kiln/internal/testmoto"
)

// sent records the input of every EC2 call as the SDK is about to send it,
// by operation. Operations moto does not implement are answered here with
// the output in stub, after being recorded.
type sent struct {
	mu    sync.Mutex
	calls map[string][]any
	stub  map[string]any
}

func (r *sent) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("kilnRecord", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		op := awsmiddleware.GetOperationName(ctx)
		r.mu.Lock()
		r.calls[op] = append(r.calls[op], in.Parameters)
		out, stubbed := r.stub[op]
		r.mu.Unlock()
		if stubbed {
			return middleware.InitializeOutput{Result: out}, middleware.Metadata{}, nil
		}
		return next.HandleInitialize(ctx, in)
	}), middleware.Before)
}

// inputs returns the inputs sent to the operation whose input type is T.
func inputs[T any](r *sent) []*T {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*T
	for _, calls := range r.calls {
		for _, c := range calls {
			if in, ok := c.(*T); ok {
				out = append(out, in)
			}
		}
	}
	return out
}

// one returns the only input of type T sent, failing the test otherwise.
func one[T any](t *testing.T, r *sent) *T {
	t.Helper()
	in := inputs[T](r)
	if len(in) != 1 {
		t.Fatalf("%T sent %d times, want once", *new(T), len(in))
	}
	return in[0]
}

func tagSpec(specs []types.TagSpecification, rt types.ResourceType) map[string]string {
	for _, s := range specs {
		if s.ResourceType == rt {
			return tagMap(s.Tags)
		}
	}
	return nil
}

func ltTagSpec(specs []types.LaunchTemplateTagSpecificationRequest, rt types.ResourceType) map[string]string {
	for _, s := range specs {
		if s.ResourceType == rt {
			return tagMap(s.Tags)
		}
	}
	return nil
}

// tagsSentTo merges the tags of every CreateTags call on resources with
// the prefix ("ami-", "snap-").
func tagsSentTo(r *sent, prefix string) map[string]string {
	out := map[string]string{}
	for _, in := range inputs[ec2.CreateTagsInput](r) {
		if len(in.Resources) > 0 && strings.HasPrefix(in.Resources[0], prefix) {
			for k, v := range tagMap(in.Tags) {
				out[k] = v
			}
		}
	}
	return out
}

func hasFilter(fs []types.Filter, name, value string) bool {
	return slices.ContainsFunc(fs, func(f types.Filter) bool {
		return aws.ToString(f.Name) == name && slices.Contains(f.Values, value)
	})
}

// TestOptionsReachRequests builds against moto once per option, from a
// template setting it, and checks the request the SDK sent carries it (moto
// ignores many of these values: the requests are what is checked).
func TestOptionsReachRequests(t *testing.T) {
	moto := testmoto.Start(t)
	source := catalogAMI(t, ec2.NewFromConfig(moto.Config(buildRegion)))
	const arn = "arn:aws:resource-groups:us-east-1:123456789012:group/hosts"
	const license = "arn:aws:license-manager:us-east-1:123456789012:license-configuration:lic-0123456789abcdef0123456789abcdef"
	const spot = `spot_price = "auto"` + "\n"
	cases := []struct {
		name, hcl    string
		instanceType string // t3.micro unless set
		check        func(t *testing.T, r *sent, a *Artifact)
		// fails: the build is expected to fail with this text.
		fails string
	}{
		{name: "ebs_optimized", hcl: "ebs_optimized = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !aws.ToBool(one[ec2.RunInstancesInput](t, r).EbsOptimized) {
				t.Error("RunInstances without EbsOptimized")
			}
		}},
		{name: "placement", hcl: "placement {\n host_resource_group_arn = \"" + arn + "\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			p := one[ec2.RunInstancesInput](t, r).Placement
			if p == nil || aws.ToString(p.HostResourceGroupArn) != arn || p.Tenancy != types.TenancyHost {
				t.Errorf("RunInstances placement = %+v, want the host resource group and host tenancy", p)
			}
		}},
		{name: "placement host_id", hcl: "placement {\n host_id = \"h-0123456789abcdef0\"\n tenancy = \"host\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			p := one[ec2.RunInstancesInput](t, r).Placement
			if p == nil || aws.ToString(p.HostId) != "h-0123456789abcdef0" || p.Tenancy != types.TenancyHost {
				t.Errorf("RunInstances placement = %+v", p)
			}
		}},
		{name: "tenancy", hcl: `tenancy = "dedicated"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if p := one[ec2.RunInstancesInput](t, r).Placement; p == nil || p.Tenancy != types.TenancyDedicated {
				t.Errorf("RunInstances placement = %+v, want dedicated tenancy", p)
			}
		}},
		{name: "capacity_reservation_preference", hcl: `capacity_reservation_preference = "open"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			c := one[ec2.RunInstancesInput](t, r).CapacityReservationSpecification
			if c == nil || c.CapacityReservationPreference != types.CapacityReservationPreferenceOpen {
				t.Errorf("RunInstances capacity reservation = %+v", c)
			}
		}},
		{name: "capacity_reservation_id", hcl: `capacity_reservation_id = "cr-0123456789abcdef0"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			c := one[ec2.RunInstancesInput](t, r).CapacityReservationSpecification
			if c == nil || c.CapacityReservationTarget == nil || aws.ToString(c.CapacityReservationTarget.CapacityReservationId) != "cr-0123456789abcdef0" {
				t.Errorf("RunInstances capacity reservation = %+v", c)
			}
		}},
		{name: "capacity_reservation_group_arn", hcl: `capacity_reservation_group_arn = "` + arn + `"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			c := one[ec2.RunInstancesInput](t, r).CapacityReservationSpecification
			if c == nil || c.CapacityReservationTarget == nil || aws.ToString(c.CapacityReservationTarget.CapacityReservationResourceGroupArn) != arn {
				t.Errorf("RunInstances capacity reservation = %+v", c)
			}
		}},
		{name: "enable_unlimited_credits", hcl: "enable_unlimited_credits = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			if c := one[ec2.RunInstancesInput](t, r).CreditSpecification; c == nil || aws.ToString(c.CpuCredits) != "unlimited" {
				t.Errorf("RunInstances credit specification = %+v", c)
			}
		}},
		{name: "enable_t2_unlimited", instanceType: "t2.micro", hcl: "enable_t2_unlimited = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			if c := one[ec2.RunInstancesInput](t, r).CreditSpecification; c == nil || aws.ToString(c.CpuCredits) != "unlimited" {
				t.Errorf("RunInstances credit specification = %+v", c)
			}
		}},
		{name: "enable_nitro_enclave", hcl: "enable_nitro_enclave = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			if e := one[ec2.RunInstancesInput](t, r).EnclaveOptions; e == nil || !aws.ToBool(e.Enabled) {
				t.Errorf("RunInstances enclave options = %+v", e)
			}
		}},
		{name: "license_specifications", hcl: "license_specifications {\n license_configuration_request {\n  license_configuration_arn = \"" + license + "\"\n }\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			l := one[ec2.RunInstancesInput](t, r).LicenseSpecifications
			if len(l) != 1 || aws.ToString(l[0].LicenseConfigurationArn) != license {
				t.Errorf("RunInstances licenses = %+v", l)
			}
		}},
		{name: "no_ephemeral", hcl: "no_ephemeral = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			bdm := one[ec2.RunInstancesInput](t, r).BlockDeviceMappings
			n := 0
			for _, m := range bdm {
				if strings.HasPrefix(aws.ToString(m.DeviceName), "xvdc") && m.NoDevice != nil {
					n++
				}
			}
			if n != 26 {
				t.Errorf("RunInstances maps %d of xvdca-xvdcz to no device, want 26: %+v", n, bdm)
			}
		}},
		{name: "run_tags and run_tag", hcl: "run_tags = { A = \"map\" }\nrun_tag {\n key = \"B\"\n value = \"block\"\n}\ntags = { A = \"ami\" }", check: func(t *testing.T, r *sent, _ *Artifact) {
			got := tagSpec(one[ec2.RunInstancesInput](t, r).TagSpecifications, types.ResourceTypeInstance)
			if got["A"] != "map" || got["B"] != "block" {
				t.Errorf("instance tags = %v", got)
			}
			// The AMI inherits the run tags that tags does not set.
			if ami := tagsSentTo(r, "ami-"); ami["A"] != "ami" || ami["B"] != "block" {
				t.Errorf("AMI tags = %v, want A from tags and B from run_tag", ami)
			}
		}},
		{name: "skip_ami_run_tags", hcl: "run_tags = { B = \"run\" }\nskip_ami_run_tags = true", check: func(t *testing.T, r *sent, a *Artifact) {
			if ami := tagsSentTo(r, "ami-"); ami["B"] != "" || a.Tags["B"] != "" {
				t.Errorf("AMI tags = %v (artifact %v), want no run tag", ami, a.Tags)
			}
		}},
		{name: "run_volume_tag", hcl: "run_volume_tags = { A = \"map\" }\nrun_volume_tag {\n key = \"B\"\n value = \"block\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			got := tagSpec(one[ec2.RunInstancesInput](t, r).TagSpecifications, types.ResourceTypeVolume)
			if got["A"] != "map" || got["B"] != "block" {
				t.Errorf("volume tags = %v", got)
			}
		}},
		{name: "tag", hcl: "tags = { A = \"map\", B = \"map\" }\ntag {\n key = \"B\"\n value = \"block\"\n}", check: func(t *testing.T, r *sent, a *Artifact) {
			if ami := tagsSentTo(r, "ami-"); ami["A"] != "map" || ami["B"] != "block" || a.Tags["B"] != "block" {
				t.Errorf("AMI tags = %v, want the block to win", ami)
			}
		}},
		{name: "snapshot_tag", hcl: "snapshot_tag {\n key = \"Kind\"\n value = \"root\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			if snap := tagsSentTo(r, "snap-"); snap["Kind"] != "root" {
				t.Errorf("snapshot tags = %v", snap)
			}
		}},
		{name: "subnet_filter filter", hcl: "subnet_filter {\n filter {\n  name = \"default-for-az\"\n  value = \"true\"\n }\n most_free = true\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.DescribeSubnetsInput](r), func(in *ec2.DescribeSubnetsInput) bool { return hasFilter(in.Filters, "default-for-az", "true") }) {
				t.Error("no DescribeSubnets with the filter block's filter")
			}
		}},
		{name: "vpc_filter filter", hcl: "vpc_filter {\n filter {\n  name = \"is-default\"\n  value = \"true\"\n }\n}\nsubnet_filter {\n most_free = true\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.DescribeVpcsInput](r), func(in *ec2.DescribeVpcsInput) bool { return hasFilter(in.Filters, "is-default", "true") }) {
				t.Error("no DescribeVpcs with the filter block's filter")
			}
		}},
		{name: "security_group_filter filter", hcl: "security_group_filter {\n filter {\n  name = \"group-name\"\n  value = \"default\"\n }\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.DescribeSecurityGroupsInput](r), func(in *ec2.DescribeSecurityGroupsInput) bool { return hasFilter(in.Filters, "group-name", "default") }) {
				t.Error("no DescribeSecurityGroups with the filter block's filter")
			}
			if len(inputs[ec2.CreateSecurityGroupInput](r)) != 0 {
				t.Error("a temporary security group was made although the filter found one")
			}
		}},
		{name: "spot_tags and spot_tag", hcl: spot + "spot_tags = { A = \"map\" }\nspot_tag {\n key = \"B\"\n value = \"block\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			got := ltTagSpec(one[ec2.CreateLaunchTemplateInput](t, r).LaunchTemplateData.TagSpecifications, types.ResourceTypeSpotInstancesRequest)
			if got["A"] != "map" || got["B"] != "block" {
				t.Errorf("spot request tags = %v", got)
			}
		}},
		{name: "spot_allocation_strategy", hcl: spot + `spot_allocation_strategy = "capacity-optimized"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if o := one[ec2.CreateFleetInput](t, r).SpotOptions; o == nil || o.AllocationStrategy != types.SpotAllocationStrategyCapacityOptimized {
				t.Errorf("CreateFleet spot options = %+v", o)
			}
		}},
		{name: "fleet_tags and fleet_tag", hcl: spot + "fleet_tags = { A = \"map\" }\nfleet_tag {\n key = \"B\"\n value = \"block\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			got := tagSpec(one[ec2.CreateFleetInput](t, r).TagSpecifications, types.ResourceTypeFleet)
			if got["A"] != "map" || got["B"] != "block" || got["kiln:build-id"] == "" {
				t.Errorf("fleet tags = %v, want fleet_tags, fleet_tag and kiln's marks", got)
			}
		}},
		{name: "spot launch template", hcl: spot + "ebs_optimized = true\nplacement {\n tenancy = \"dedicated\"\n}\ncapacity_reservation_preference = \"none\"\nenable_unlimited_credits = true\nlicense_specifications {\n license_configuration_request {\n  license_configuration_arn = \"" + license + "\"\n }\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			d := one[ec2.CreateLaunchTemplateInput](t, r).LaunchTemplateData
			if !aws.ToBool(d.EbsOptimized) || d.Placement == nil || d.Placement.Tenancy != types.TenancyDedicated ||
				d.CapacityReservationSpecification == nil || d.CapacityReservationSpecification.CapacityReservationPreference != types.CapacityReservationPreferenceNone ||
				d.CreditSpecification == nil || aws.ToString(d.CreditSpecification.CpuCredits) != "unlimited" ||
				len(d.LicenseSpecifications) != 1 || aws.ToString(d.LicenseSpecifications[0].LicenseConfigurationArn) != license {
				t.Errorf("launch template data = %+v", d)
			}
		}},
		{name: "spot_price_auto_product", hcl: spot + `spot_price_auto_product = "Linux/UNIX"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			one[ec2.CreateFleetInput](t, r) // accepted, with a warning, and without effect
		}},
		{name: "ena_support", hcl: "ena_support = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			in := one[ec2.ModifyInstanceAttributeInput](t, r)
			if in.EnaSupport == nil || !aws.ToBool(in.EnaSupport.Value) {
				t.Errorf("ModifyInstanceAttribute = %+v, want EnaSupport true", in)
			}
		}},
		{name: "ena_support false", hcl: "ena_support = false", check: func(t *testing.T, r *sent, _ *Artifact) {
			in := one[ec2.ModifyInstanceAttributeInput](t, r)
			if in.EnaSupport == nil || aws.ToBool(in.EnaSupport.Value) {
				t.Errorf("ModifyInstanceAttribute = %+v, want EnaSupport false", in)
			}
		}},
		{name: "sriov_support", hcl: "sriov_support = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			in := one[ec2.ModifyInstanceAttributeInput](t, r)
			if in.SriovNetSupport == nil || aws.ToString(in.SriovNetSupport.Value) != "simple" {
				t.Errorf("ModifyInstanceAttribute = %+v, want SriovNetSupport simple", in)
			}
		}},
		{name: "ami_virtualization_type", hcl: `ami_virtualization_type = "hvm"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			one[ec2.CreateImageInput](t, r)
		}},
		{name: "ami_virtualization_type mismatch", hcl: `ami_virtualization_type = "paravirtual"`, fails: "keeps its source's virtualization type"},
		{name: "ami_product_codes", hcl: `ami_product_codes = ["abcdefghijklmnopqrstuvwxy"]`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.ModifyImageAttributeInput](r), func(in *ec2.ModifyImageAttributeInput) bool {
				return slices.Equal(in.ProductCodes, []string{"abcdefghijklmnopqrstuvwxy"})
			}) {
				t.Error("no ModifyImageAttribute with the product codes")
			}
		}},
		{name: "deregistration_protection", hcl: "deregistration_protection {\n enabled = true\n with_cooldown = true\n}", check: func(t *testing.T, r *sent, a *Artifact) {
			in := one[ec2.EnableImageDeregistrationProtectionInput](t, r)
			if aws.ToString(in.ImageId) != a.Images[buildRegion] || !aws.ToBool(in.WithCooldown) {
				t.Errorf("EnableImageDeregistrationProtection = %+v", in)
			}
		}},
		{name: "snapshot_copy_duration_minutes", hcl: "ami_regions = [\"" + copyRegion + "\"]\nsnapshot_copy_duration_minutes = 15", check: func(t *testing.T, r *sent, _ *Artifact) {
			if d := one[ec2.CopyImageInput](t, r).SnapshotCopyCompletionDurationMinutes; aws.ToInt64(d) != 15 {
				t.Errorf("CopyImage duration = %v, want 15", d)
			}
		}},
		{name: "skip_save_build_region", hcl: "ami_regions = [\"" + copyRegion + "\"]\nskip_save_build_region = true", check: func(t *testing.T, r *sent, a *Artifact) {
			created := one[ec2.CreateImageInput](t, r)
			if !strings.HasPrefix(aws.ToString(created.Name), "kiln-intermediate-") {
				t.Errorf("CreateImage name = %q, want an intermediate name", aws.ToString(created.Name))
			}
			if !slices.ContainsFunc(inputs[ec2.DeregisterImageInput](r), func(in *ec2.DeregisterImageInput) bool { return in.ImageId != nil }) {
				t.Error("the intermediate image was not deregistered")
			}
			if len(a.Images) != 1 || a.Images[copyRegion] == "" {
				t.Errorf("artifact images = %v, want only the copy", a.Images)
			}
		}},
		{name: "region validation", hcl: "ami_regions = [\"" + copyRegion + "\"]", check: func(t *testing.T, r *sent, _ *Artifact) {
			one[ec2.DescribeRegionsInput](t, r)
		}},
		{name: "skip_region_validation", hcl: "ami_regions = [\"" + copyRegion + "\"]\nskip_region_validation = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			if n := len(inputs[ec2.DescribeRegionsInput](r)); n != 0 {
				t.Errorf("DescribeRegions sent %d times with skip_region_validation", n)
			}
		}},
		{name: "unknown region", hcl: `ami_regions = ["xx-nowhere-9"]`, fails: "not a region EC2 knows"},
		// Options kiln had before.
		{name: "shutdown_behavior", hcl: `shutdown_behavior = "terminate"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if b := one[ec2.RunInstancesInput](t, r).InstanceInitiatedShutdownBehavior; b != types.ShutdownBehaviorTerminate {
				t.Errorf("RunInstances shutdown behavior = %q", b)
			}
		}},
		{name: "metadata_options", hcl: "metadata_options {\n http_tokens = \"optional\"\n http_put_response_hop_limit = 3\n instance_metadata_tags = \"enabled\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			m := one[ec2.RunInstancesInput](t, r).MetadataOptions
			if m.HttpTokens != types.HttpTokensStateOptional || aws.ToInt32(m.HttpPutResponseHopLimit) != 3 || m.InstanceMetadataTags != types.InstanceMetadataTagsStateEnabled {
				t.Errorf("RunInstances metadata options = %+v", m)
			}
		}},
		{name: "associate_public_ip_address", hcl: "associate_public_ip_address = true", check: func(t *testing.T, r *sent, _ *Artifact) {
			n := one[ec2.RunInstancesInput](t, r).NetworkInterfaces
			if len(n) != 1 || !aws.ToBool(n[0].AssociatePublicIpAddress) {
				t.Errorf("RunInstances network interfaces = %+v", n)
			}
		}},
		{name: "launch_block_device_mappings", hcl: "launch_block_device_mappings {\n device_name = \"/dev/sdf\"\n volume_type = \"gp3\"\n volume_size = 9\n iops = 3000\n throughput = 125\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			bdm := one[ec2.RunInstancesInput](t, r).BlockDeviceMappings
			if len(bdm) != 1 || bdm[0].Ebs == nil || aws.ToInt32(bdm[0].Ebs.VolumeSize) != 9 || bdm[0].Ebs.VolumeType != types.VolumeTypeGp3 || aws.ToInt32(bdm[0].Ebs.Iops) != 3000 || aws.ToInt32(bdm[0].Ebs.Throughput) != 125 {
				t.Errorf("RunInstances block devices = %+v", bdm)
			}
		}},
		{name: "ami_block_device_mappings", hcl: "ami_block_device_mappings {\n device_name = \"/dev/sdg\"\n virtual_name = \"ephemeral0\"\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			bdm := one[ec2.CreateImageInput](t, r).BlockDeviceMappings
			if len(bdm) != 1 || aws.ToString(bdm[0].VirtualName) != "ephemeral0" {
				t.Errorf("CreateImage block devices = %+v", bdm)
			}
		}},
		{name: "user_data", hcl: `user_data = "#!/bin/sh\necho kiln-user-part\n"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			ud, err := base64.StdEncoding.DecodeString(aws.ToString(one[ec2.RunInstancesInput](t, r).UserData))
			if err != nil || !strings.Contains(string(ud), "kiln-user-part") {
				t.Errorf("RunInstances user data lacks the user part (%v)", err)
			}
		}},
		{name: "temporary_key_pair_name", hcl: `temporary_key_pair_name = "kiln-opt-key"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if n := aws.ToString(one[ec2.ImportKeyPairInput](t, r).KeyName); n != "kiln-opt-key" {
				t.Errorf("ImportKeyPair name = %q", n)
			}
		}},
		{name: "ami_description", hcl: `ami_description = "from {{ .SourceAMI }}"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if d := aws.ToString(one[ec2.CreateImageInput](t, r).Description); d != "from "+source {
				t.Errorf("CreateImage description = %q", d)
			}
		}},
		{name: "ami_users and ami_groups", hcl: "ami_users = [\"" + shareWith + "\"]\nami_groups = [\"all\"]", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.ModifyImageAttributeInput](r), func(in *ec2.ModifyImageAttributeInput) bool {
				return in.LaunchPermission != nil && len(in.LaunchPermission.Add) == 2 &&
					aws.ToString(in.LaunchPermission.Add[0].UserId) == shareWith && in.LaunchPermission.Add[1].Group == types.PermissionGroupAll
			}) {
				t.Error("no ModifyImageAttribute adding the user and the group")
			}
		}},
		{name: "snapshot_users", hcl: "snapshot_users = [\"" + shareWith + "\"]", check: func(t *testing.T, r *sent, _ *Artifact) {
			in := inputs[ec2.ModifySnapshotAttributeInput](r)
			if len(in) == 0 || in[0].CreateVolumePermission == nil || aws.ToString(in[0].CreateVolumePermission.Add[0].UserId) != shareWith {
				t.Errorf("ModifySnapshotAttribute = %+v", in)
			}
		}},
		{name: "imds_support", hcl: `imds_support = "v2.0"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(inputs[ec2.ModifyImageAttributeInput](r), func(in *ec2.ModifyImageAttributeInput) bool {
				return in.ImdsSupport != nil && aws.ToString(in.ImdsSupport.Value) == "v2.0"
			}) {
				t.Error("no ModifyImageAttribute with ImdsSupport v2.0")
			}
		}},
		{name: "deprecate_at", hcl: `deprecate_at = "2030-01-02T15:04:00Z"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if at := one[ec2.EnableImageDeprecationInput](t, r).DeprecateAt; at == nil || at.UTC().Format(time.RFC3339) != "2030-01-02T15:04:00Z" {
				t.Errorf("EnableImageDeprecation at %v", at)
			}
		}},
		{name: "encrypt_boot and kms_key_id", hcl: "encrypt_boot = true\nkms_key_id = \"alias/kiln\"\nlaunch_block_device_mappings {\n device_name = \"/dev/sda1\"\n volume_size = 8\n}", check: func(t *testing.T, r *sent, _ *Artifact) {
			if !slices.ContainsFunc(one[ec2.RunInstancesInput](t, r).BlockDeviceMappings, func(m types.BlockDeviceMapping) bool {
				return m.Ebs != nil && aws.ToBool(m.Ebs.Encrypted) && aws.ToString(m.Ebs.KmsKeyId) == "alias/kiln"
			}) {
				t.Error("RunInstances does not encrypt the root volume with the key")
			}
		}},
		{name: "region_kms_key_ids", hcl: "ami_regions = [\"" + copyRegion + "\"]\nregion_kms_key_ids = { \"" + copyRegion + "\" = \"alias/away\" }", check: func(t *testing.T, r *sent, _ *Artifact) {
			in := one[ec2.CopyImageInput](t, r)
			if !aws.ToBool(in.Encrypted) || aws.ToString(in.KmsKeyId) != "alias/away" {
				t.Errorf("CopyImage = %+v", in)
			}
		}},
		{name: "spot_instance_types", hcl: spot + `spot_instance_types = ["t3.micro", "t3a.micro"]`, check: func(t *testing.T, r *sent, _ *Artifact) {
			o := one[ec2.CreateFleetInput](t, r).LaunchTemplateConfigs[0].Overrides
			if len(o) != 2 || o[1].InstanceType != "t3a.micro" {
				t.Errorf("CreateFleet overrides = %+v", o)
			}
		}},
		{name: "availability_zone", hcl: `availability_zone = "us-east-1b"`, check: func(t *testing.T, r *sent, _ *Artifact) {
			if p := one[ec2.RunInstancesInput](t, r).Placement; p == nil || aws.ToString(p.AvailabilityZone) != "us-east-1b" {
				t.Errorf("RunInstances placement = %+v", p)
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			moto.Reset(t)
			rec := &sent{calls: map[string][]any{}, stub: map[string]any{
				// moto 5.2.1 lacks them.
				"EnableImageDeregistrationProtection": &ec2.EnableImageDeregistrationProtectionOutput{},
				"EnableImageDeprecation":              &ec2.EnableImageDeprecationOutput{},
			}}
			r := &rig{t: t, moto: moto, journal: t.TempDir(), apiOptions: []func(*middleware.Stack) error{rec.middleware}}
			typ := tc.instanceType
			if typ == "" {
				typ = "t3.micro"
			}
			src := fmt.Sprintf(`
region              = %q
access_key          = "testing"
secret_key          = "testing"
custom_endpoint_ec2 = %q
source_ami          = %q
instance_type       = %q
ami_name            = "kiln-options-%d"
communicator        = "none"
temporary_security_group_source_cidrs = ["127.0.0.1/32"]
%s
`, buildRegion, moto.Endpoint, source, typ, i, tc.hcl)
			b := r.builder(src, nil)
			art, err := b.Run(context.Background(), r.env(&eventtest.Recorder{Logf: t.Logf}), nil)
			if tc.fails != "" {
				if err == nil || !strings.Contains(err.Error(), tc.fails) {
					t.Fatalf("build: %v, want an error with %q", err, tc.fails)
				}
				return
			}
			if err != nil {
				t.Fatalf("build: %v", err)
			}
			tc.check(t, rec, art.(*Artifact))
		})
	}
}

// TestOptionsWarn checks the deprecated and ineffective options Packer
// accepts are accepted with a warning at their attribute.
func TestOptionsWarn(t *testing.T) {
	base := "source_ami = \"ami-1\"\ninstance_type = \"t2.micro\"\nami_name = \"abc\"\nregion = \"us-east-1\"\n"
	for _, attr := range []string{
		`spot_price = "auto"` + "\nspot_price_auto_product = \"Linux/UNIX\"",
		`tenancy = "dedicated"`,
		"enable_t2_unlimited = true",
	} {
		_, diags := New(parseBody(t, base+attr), nil)
		if diags.HasErrors() {
			t.Errorf("%s: %s", attr, diags.Error())
			continue
		}
		if len(diags) == 0 || diags[0].Severity != hcl.DiagWarning || diags[0].Subject == nil {
			t.Errorf("%s: diagnostics %v, want a warning at the attribute", attr, diags)
		}
	}
}
