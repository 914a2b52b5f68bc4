package amazonebs

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/awsimage"
	"github.com/kilnhq/kiln/step"
)

// stepSourceAMI finds the source image, by ID or by filter.
func stepSourceAMI(ctx context.Context, s *state, _ *step.Undo) error {
	img, err := awsimage.Find(ctx, s.ec2, s.cfg.SourceAMI, s.cfg.SourceAMIFilter)
	if err != nil {
		return fmt.Errorf("find source AMI in %s: %w", s.region, err)
	}
	if img.RootDeviceType != types.DeviceTypeEbs {
		return fmt.Errorf("source AMI %s (%s) has root device type %q: amazon-ebs needs an EBS-backed image", aws.ToString(img.ImageId), aws.ToString(img.Name), img.RootDeviceType)
	}
	if v := s.cfg.AMIVirtType; v != "" && string(img.VirtualizationType) != v {
		return fmt.Errorf("source AMI %s is %s, not ami_virtualization_type %q: an image made of an instance keeps its source's virtualization type", aws.ToString(img.ImageId), img.VirtualizationType, v)
	}
	s.source = img
	s.say("source AMI: %s (%s)", aws.ToString(img.ImageId), aws.ToString(img.Name))
	return nil
}

// legacyData returns the values for legacy {{ .Name }} strings in region.
func (s *state) legacyData(region string) map[string]string {
	d := map[string]string{
		"BuildRegion":           region,
		"SourceAMI":             aws.ToString(s.source.ImageId),
		"SourceAMIName":         aws.ToString(s.source.Name),
		"SourceAMIOwner":        aws.ToString(s.source.OwnerId),
		"SourceAMIOwnerName":    aws.ToString(s.source.ImageOwnerAlias),
		"SourceAMICreationDate": aws.ToString(s.source.CreationDate),
	}
	for _, t := range s.source.Tags {
		d["SourceAMITags."+aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return d
}

// stepCheckName renders ami_name (the name the engine gives, builder.Env.Image,
// in its place) and ami_description and makes sure no image has the name yet
// in any target region, before anything is launched. With force_deregister
// an existing image is replaced later, in create-image.
func stepCheckName(ctx context.Context, s *state, _ *step.Undo) error {
	name := s.cfg.AMIName
	if s.env.Image != nil {
		name = s.env.Image.Name
	}
	var err error
	if s.amiName, err = s.render(name, s.region); err != nil {
		return fmt.Errorf("ami_name: %w", err)
	}
	if s.amiDescription, err = s.render(s.cfg.AMIDescription, s.region); err != nil {
		return fmt.Errorf("ami_description: %w", err)
	}
	if s.cfg.SkipCreateAMI {
		return nil
	}
	if n := len(s.amiName); n < 3 || n > 128 {
		return fmt.Errorf("ami_name %q is %d characters long; AWS allows 3 to 128", s.amiName, n)
	}
	if err := s.checkRegions(ctx); err != nil {
		return err
	}
	if s.cfg.ForceDeregister {
		return nil // replaced in create-image
	}
	for _, region := range s.kept() {
		c, err := s.clients(ctx, region)
		if err != nil {
			return err
		}
		img, err := imageByName(ctx, c, s.amiName)
		if err != nil {
			return regionalError(region, "check ami_name", err)
		}
		if img != nil {
			return fmt.Errorf("an AMI named %q already exists in %s (%s); choose another ami_name or set force_deregister = true: %w", s.amiName, region, aws.ToString(img.ImageId), family.ErrNameTaken)
		}
	}
	return nil
}

// checkRegions makes sure every region of ami_regions and
// region_kms_key_ids exists, unless skip_region_validation is set.
func (s *state) checkRegions(ctx context.Context) error {
	if s.cfg.SkipRegionValidation || (len(s.cfg.AMIRegions) == 0 && len(s.cfg.RegionKMSKeyIDs) == 0) {
		return nil
	}
	out, err := s.ec2.DescribeRegions(ctx, &ec2.DescribeRegionsInput{AllRegions: aws.Bool(true)})
	if err != nil {
		return fmt.Errorf("check ami_regions: %w", err)
	}
	known := map[string]bool{}
	for _, r := range out.Regions {
		known[aws.ToString(r.RegionName)] = true
	}
	for _, r := range append(slices.Clone(s.cfg.AMIRegions), slices.Sorted(maps.Keys(s.cfg.RegionKMSKeyIDs))...) {
		if !known[r] {
			return fmt.Errorf("ami_regions: %q is not a region EC2 knows (set skip_region_validation = true for a region it does not list)", r)
		}
	}
	return nil
}

// imageByName returns the caller's image named name, or nil.
func imageByName(ctx context.Context, c EC2, name string) (*types.Image, error) {
	out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{
		Owners:  []string{"self"},
		Filters: []types.Filter{{Name: aws.String("name"), Values: []string{name}}},
	})
	if err != nil {
		return nil, err
	}
	if len(out.Images) == 0 {
		return nil, nil
	}
	return &out.Images[0], nil
}

// stepNetwork resolves the VPC, subnet and security groups from IDs or
// filters. Nothing is created.
func stepNetwork(ctx context.Context, s *state, _ *step.Undo) error {
	c := s.cfg
	s.vpcID, s.subnetID, s.az = c.VpcID, c.SubnetID, c.AvailabilityZone
	if s.vpcID == "" && c.VpcFilter != nil {
		out, err := s.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{Filters: awsimage.EC2Filters(c.VpcFilter.Filters)})
		if err != nil {
			return fmt.Errorf("find VPC: %w", err)
		}
		if len(out.Vpcs) != 1 {
			return fmt.Errorf("find VPC: vpc_filter matches %d VPCs, it must match exactly one", len(out.Vpcs))
		}
		s.vpcID = aws.ToString(out.Vpcs[0].VpcId)
	}
	if s.subnetID == "" && c.SubnetFilter != nil {
		in := &ec2.DescribeSubnetsInput{Filters: awsimage.EC2Filters(c.SubnetFilter.Filters)}
		if s.vpcID != "" {
			in.Filters = append(in.Filters, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		if s.az != "" {
			in.Filters = append(in.Filters, types.Filter{Name: aws.String("availability-zone"), Values: []string{s.az}})
		}
		out, err := s.ec2.DescribeSubnets(ctx, in)
		if err != nil {
			return fmt.Errorf("find subnet: %w", err)
		}
		sub, err := pickSubnet(out.Subnets, c.SubnetFilter)
		if err != nil {
			return err
		}
		s.subnetID = aws.ToString(sub.SubnetId)
	}
	if s.subnetID != "" {
		out, err := s.ec2.DescribeSubnets(ctx, &ec2.DescribeSubnetsInput{SubnetIds: []string{s.subnetID}})
		if err != nil {
			return fmt.Errorf("describe subnet %s: %w", s.subnetID, err)
		}
		if len(out.Subnets) == 1 {
			sub := out.Subnets[0]
			s.vpcID, s.az = aws.ToString(sub.VpcId), aws.ToString(sub.AvailabilityZone)
		}
	}
	s.sgIDs = c.SecurityGroupIDs
	if c.SecurityGroupID != "" {
		s.sgIDs = []string{c.SecurityGroupID}
	}
	if len(s.sgIDs) == 0 && c.SecurityGroupFilter != nil {
		in := &ec2.DescribeSecurityGroupsInput{Filters: awsimage.EC2Filters(c.SecurityGroupFilter.Filters)}
		if s.vpcID != "" {
			in.Filters = append(in.Filters, types.Filter{Name: aws.String("vpc-id"), Values: []string{s.vpcID}})
		}
		out, err := s.ec2.DescribeSecurityGroups(ctx, in)
		if err != nil {
			return fmt.Errorf("find security groups: %w", err)
		}
		if len(out.SecurityGroups) == 0 {
			return fmt.Errorf("find security groups: security_group_filter matches none")
		}
		for _, g := range out.SecurityGroups {
			s.sgIDs = append(s.sgIDs, aws.ToString(g.GroupId))
		}
	}
	return nil
}

// pickSubnet chooses among the subnets a subnet_filter matched.
func pickSubnet(subnets []types.Subnet, f *SubnetFilter) (types.Subnet, error) {
	switch {
	case len(subnets) == 0:
		return types.Subnet{}, fmt.Errorf("find subnet: subnet_filter matches none")
	case len(subnets) == 1:
		return subnets[0], nil
	case f.MostFree:
		sort.SliceStable(subnets, func(i, j int) bool {
			return aws.ToInt32(subnets[i].AvailableIpAddressCount) > aws.ToInt32(subnets[j].AvailableIpAddressCount)
		})
		return subnets[0], nil
	case f.Random:
		return subnets[rand.IntN(len(subnets))], nil
	}
	return types.Subnet{}, fmt.Errorf("find subnet: subnet_filter matches %d subnets; set most_free or random, or narrow it", len(subnets))
}
