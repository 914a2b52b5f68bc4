package amazonebs

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// launchSpot starts a spot instance through an instant EC2 Fleet over a
// temporary launch template: the fleet picks the cheapest available type of
// spot_instance_types (or instance_type) at or under spot_price.
func launchSpot(ctx context.Context, s *state, u *step.Undo, tagSpecs []types.TagSpecification) (string, error) {
	c := s.cfg
	data := &types.RequestLaunchTemplateData{
		ImageId:         s.source.ImageId,
		UserData:        aws.String(encodeUserData(s.userData)),
		MetadataOptions: launchTemplateMetadata(s.metadataOptions()),
	}
	spotTags, err := s.renderTags(c.SpotTags, s.region)
	if err != nil {
		return "", fmt.Errorf("spot_tags: %w", err)
	}
	if len(spotTags) > 0 {
		tagSpecs = append(tagSpecs, awsutil.TagSpec(types.ResourceTypeSpotInstancesRequest, awsutil.Tags(spotTags)))
	}
	for _, ts := range tagSpecs {
		data.TagSpecifications = append(data.TagSpecifications, types.LaunchTemplateTagSpecificationRequest{ResourceType: ts.ResourceType, Tags: ts.Tags})
	}
	o := s.launchOptions()
	data.EbsOptimized = o.ebsOptimized
	if p := o.placement; p != nil {
		// The fleet's overrides carry the availability zone.
		data.Placement = &types.LaunchTemplatePlacementRequest{HostResourceGroupArn: p.HostResourceGroupArn, HostId: p.HostId, Tenancy: p.Tenancy}
	}
	if r := o.capacity; r != nil {
		data.CapacityReservationSpecification = &types.LaunchTemplateCapacityReservationSpecificationRequest{
			CapacityReservationPreference: r.CapacityReservationPreference, CapacityReservationTarget: r.CapacityReservationTarget,
		}
	}
	data.CreditSpecification = o.credits
	if o.enclave != nil {
		data.EnclaveOptions = &types.LaunchTemplateEnclaveOptionsRequest{Enabled: o.enclave.Enabled}
	}
	for _, l := range o.licenses {
		data.LicenseSpecifications = append(data.LicenseSpecifications, types.LaunchTemplateLicenseConfigurationRequest{LicenseConfigurationArn: l.LicenseConfigurationArn})
	}
	for _, m := range s.blockDevices() {
		data.BlockDeviceMappings = append(data.BlockDeviceMappings, launchTemplateBlockDevice(m))
	}
	if s.keyName != "" {
		data.KeyName = aws.String(s.keyName)
	}
	if c.IAMInstanceProfile != "" {
		p := instanceProfile(c.IAMInstanceProfile)
		data.IamInstanceProfile = &types.LaunchTemplateIamInstanceProfileSpecificationRequest{Arn: p.Arn, Name: p.Name}
	}
	if c.ShutdownBehavior != "" {
		data.InstanceInitiatedShutdownBehavior = types.ShutdownBehavior(c.ShutdownBehavior)
	}
	if c.AssociatePublicIP != nil {
		data.NetworkInterfaces = []types.LaunchTemplateInstanceNetworkInterfaceSpecificationRequest{{
			DeviceIndex: aws.Int32(0), AssociatePublicIpAddress: c.AssociatePublicIP, SubnetId: optional(s.subnetID),
			Groups: s.sgIDs, DeleteOnTermination: aws.Bool(true),
		}}
	} else {
		data.SecurityGroupIds = s.sgIDs
	}
	name := "kiln_" + s.build
	lt, err := create(ctx, s.journal, s.region, kindLaunchTemplate, name, s.ec2.CreateLaunchTemplate, &ec2.CreateLaunchTemplateInput{
		LaunchTemplateName: aws.String(name),
		LaunchTemplateData: data,
		ClientToken:        aws.String(s.clientToken("launch-template")),
		TagSpecifications:  []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeLaunchTemplate, s.tempTags)},
	})
	if err != nil {
		return "", fmt.Errorf("create temporary launch template: %w", err)
	}
	ltID := aws.ToString(lt.LaunchTemplate.LaunchTemplateId)
	if err := s.created(u, s.region, kindLaunchTemplate, name, ltID, false, func(ctx context.Context, c EC2) error {
		return s.remover().launchTemplate(ctx, c, ltID)
	}); err != nil {
		return "", err
	}

	instanceTypes := c.SpotInstanceTypes
	if len(instanceTypes) == 0 {
		instanceTypes = []string{c.InstanceType}
	}
	var overrides []types.FleetLaunchTemplateOverridesRequest
	for _, t := range instanceTypes {
		o := types.FleetLaunchTemplateOverridesRequest{InstanceType: types.InstanceType(t), SubnetId: optional(s.subnetID)}
		if s.az != "" && s.subnetID == "" {
			o.AvailabilityZone = aws.String(s.az)
		}
		if c.SpotPrice != "auto" {
			o.MaxPrice = aws.String(c.SpotPrice)
		}
		overrides = append(overrides, o)
	}
	fleetTags, err := s.renderTags(c.FleetTags, s.region)
	if err != nil {
		return "", fmt.Errorf("fleet_tags: %w", err)
	}
	strategy := types.SpotAllocationStrategyPriceCapacityOptimized
	if c.SpotAllocationStrategy != "" {
		strategy = types.SpotAllocationStrategy(c.SpotAllocationStrategy)
	}
	token := s.clientToken("create-fleet")
	out, err := create(ctx, s.journal, s.region, kindInstance, token, s.ec2.CreateFleet, &ec2.CreateFleetInput{
		Type:        types.FleetTypeInstant,
		ClientToken: aws.String(token),
		LaunchTemplateConfigs: []types.FleetLaunchTemplateConfigRequest{{
			LaunchTemplateSpecification: &types.FleetLaunchTemplateSpecificationRequest{LaunchTemplateId: aws.String(ltID), Version: aws.String("$Latest")},
			Overrides:                   overrides,
		}},
		TargetCapacitySpecification: &types.TargetCapacitySpecificationRequest{
			TotalTargetCapacity: aws.Int32(1), DefaultTargetCapacityType: types.DefaultTargetCapacityTypeSpot,
		},
		SpotOptions:       &types.SpotOptionsRequest{AllocationStrategy: strategy},
		TagSpecifications: []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeFleet, awsutil.Tags(fleetTags), s.tempTags)},
	})
	if err != nil {
		return "", fmt.Errorf("request spot instance (%s at %s): %w", strings.Join(instanceTypes, ", "), c.SpotPrice, err)
	}
	var ids []string
	for _, in := range out.Instances {
		ids = append(ids, in.InstanceIds...)
	}
	// Track every instance before looking at errors: an instant fleet may
	// return some instances and errors together.
	for _, id := range ids {
		if err := s.trackInstance(u, token, id); err != nil {
			return "", err
		}
	}
	if len(ids) == 0 {
		if err := s.journal.Refused(s.region, kindInstance, token); err != nil {
			return "", err
		}
		var why []string
		for _, e := range out.Errors {
			why = append(why, aws.ToString(e.ErrorCode)+": "+aws.ToString(e.ErrorMessage))
		}
		return "", fmt.Errorf("request spot instance (%s at %s): no capacity: %s", strings.Join(instanceTypes, ", "), c.SpotPrice, strings.Join(why, "; "))
	}
	return ids[0], nil
}

func launchTemplateMetadata(m *types.InstanceMetadataOptionsRequest) *types.LaunchTemplateInstanceMetadataOptionsRequest {
	return &types.LaunchTemplateInstanceMetadataOptionsRequest{
		HttpTokens:              types.LaunchTemplateHttpTokensState(m.HttpTokens),
		HttpEndpoint:            types.LaunchTemplateInstanceMetadataEndpointState(m.HttpEndpoint),
		HttpPutResponseHopLimit: m.HttpPutResponseHopLimit,
		InstanceMetadataTags:    types.LaunchTemplateInstanceMetadataTagsState(m.InstanceMetadataTags),
	}
}

func launchTemplateBlockDevice(m types.BlockDeviceMapping) types.LaunchTemplateBlockDeviceMappingRequest {
	out := types.LaunchTemplateBlockDeviceMappingRequest{DeviceName: m.DeviceName, NoDevice: m.NoDevice, VirtualName: m.VirtualName}
	if e := m.Ebs; e != nil {
		out.Ebs = &types.LaunchTemplateEbsBlockDeviceRequest{
			DeleteOnTermination: e.DeleteOnTermination, Encrypted: e.Encrypted, Iops: e.Iops, KmsKeyId: e.KmsKeyId,
			SnapshotId: e.SnapshotId, Throughput: e.Throughput, VolumeSize: e.VolumeSize, VolumeType: e.VolumeType,
		}
	}
	return out
}
