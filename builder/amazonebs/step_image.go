package amazonebs

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"golang.org/x/sync/errgroup"

	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// stepCreateImage makes the AMI of the stopped instance. The pending image
// is tagged as temporary and registered for removal the moment its ID is
// known; it stops being temporary only in the last step.
func stepCreateImage(ctx context.Context, s *state, u *step.Undo) error {
	if s.cfg.SkipCreateAMI {
		s.say("skip_create_ami: no image is made")
		return nil
	}
	if s.cfg.ForceDeregister {
		if err := s.deregisterExisting(ctx); err != nil {
			return err
		}
	}
	instance := aws.ToString(s.instance.InstanceId)
	if err := s.modifyInstance(ctx, instance); err != nil {
		return err
	}
	name := s.amiName
	if s.cfg.SkipSaveBuildRegion {
		// Only the source of the copies, removed at the end.
		name = "kiln-intermediate-" + s.build
	}
	in := &ec2.CreateImageInput{
		InstanceId:        aws.String(instance),
		Name:              aws.String(name),
		TagSpecifications: []types.TagSpecification{awsutil.TagSpec(types.ResourceTypeImage, s.tempTags)},
	}
	if s.amiDescription != "" {
		in.Description = aws.String(s.amiDescription)
	}
	if bdm := blockDeviceMappings(s.cfg.AMIBlockDevices); len(bdm) > 0 {
		in.BlockDeviceMappings = bdm
	}
	out, err := create(ctx, s.journal, s.region, kindImage, name, s.ec2.CreateImage, in)
	if apiCode(err) == "InvalidAMIName.Duplicate" {
		err = fmt.Errorf("%w: %w", err, family.ErrNameTaken) // another build took the name meanwhile
	}
	if err != nil {
		return fmt.Errorf("create image %q of instance %s: %w", name, instance, err)
	}
	id := aws.ToString(out.ImageId)
	if err := s.trackImage(u, s.region, name, id); err != nil {
		return err
	}
	s.say("image %s pending in %s", id, s.region)
	return s.awaitImage(ctx, s.region, s.ec2, id)
}

// modifyInstance sets ena_support and sriov_support on the stopped
// instance, so that its image has them, as Packer does.
func (s *state) modifyInstance(ctx context.Context, id string) error {
	if s.cfg.SriovSupport {
		if _, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), SriovNetSupport: &types.AttributeValue{Value: aws.String("simple")},
		}); err != nil {
			return fmt.Errorf("enable SR-IOV (sriov_support) on instance %s: %w", id, err)
		}
	}
	if ena := s.cfg.ENASupport; ena != nil {
		if _, err := s.ec2.ModifyInstanceAttribute(ctx, &ec2.ModifyInstanceAttributeInput{
			InstanceId: aws.String(id), EnaSupport: &types.AttributeBooleanValue{Value: ena},
		}); err != nil {
			return fmt.Errorf("set ENA support (ena_support = %t) on instance %s: %w", *ena, id, err)
		}
	}
	return nil
}

// trackImage records an image that exists (pending or not), made by the
// call whose intent carried its name. A kept image is removed only if the
// build fails; the intermediate image of skip_save_build_region always.
func (s *state) trackImage(u *step.Undo, region, name, id string) error {
	s.mu.Lock()
	s.images[region] = id
	s.mu.Unlock()
	return s.created(u, region, kindImage, name, id, slices.Contains(s.kept(), region), func(ctx context.Context, c EC2) error {
		return s.remover().image(ctx, c, id)
	})
}

// awaitImage waits until image id in region is available, then records and
// marks its snapshots as temporary.
func (s *state) awaitImage(ctx context.Context, region string, c EC2, id string) error {
	var img types.Image
	what := fmt.Sprintf("image %s in %s", id, region)
	err := s.waiter(s.waits.image).Wait(ctx, what, "available", func(ctx context.Context) (string, bool, error) {
		out, err := c.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{id}})
		if notFound(err) {
			return "not visible yet", false, nil
		}
		if err != nil {
			return "", false, err
		}
		if len(out.Images) == 0 {
			return "not visible yet", false, nil
		}
		img = out.Images[0]
		switch img.State {
		case types.ImageStateAvailable:
			return "available", true, nil
		case types.ImageStateFailed, types.ImageStateInvalid, types.ImageStateError, types.ImageStateDeregistered:
			reason := ""
			if img.StateReason != nil {
				reason = ": " + aws.ToString(img.StateReason.Message)
			}
			return "", false, fmt.Errorf("%s is %s%s", what, img.State, reason)
		}
		return string(img.State), false, nil
	})
	if err != nil {
		return err
	}
	snaps := imageSnapshots(img)
	s.mu.Lock()
	s.snapshots[region] = snaps
	s.mu.Unlock()
	if len(snaps) > 0 {
		if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: snaps, Tags: s.tempTags}); err != nil {
			return fmt.Errorf("tag snapshots of %s: %w", what, err)
		}
	}
	s.say("%s is available", what)
	return nil
}

// deregisterExisting removes the images named ami_name in every target
// region (force_deregister), with their snapshots when
// force_delete_snapshot is set.
func (s *state) deregisterExisting(ctx context.Context) error {
	for _, region := range s.kept() {
		c, err := s.clients(ctx, region)
		if err != nil {
			return err
		}
		img, err := imageByName(ctx, c, s.amiName)
		if err != nil {
			return regionalError(region, "find image "+s.amiName, err)
		}
		if img == nil {
			continue
		}
		id := aws.ToString(img.ImageId)
		s.warn("force_deregister: removing image %s (%s) in %s", id, s.amiName, region)
		if s.cfg.ForceDeleteSnapshot {
			err = s.remover().image(ctx, c, id)
		} else {
			_, err = c.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)})
		}
		if err != nil {
			return regionalError(region, "deregister image "+id, err)
		}
	}
	return nil
}

// stepCopyImages copies the image to every ami_regions region at once. Each
// copy is tagged temporary and registered for removal as soon as its ID is
// known.
func stepCopyImages(ctx context.Context, s *state, u *step.Undo) error {
	regions := s.regions()[1:]
	if s.cfg.SkipCreateAMI || len(regions) == 0 {
		return nil
	}
	source := s.images[s.region]
	g, gctx := errgroup.WithContext(ctx)
	for _, region := range regions {
		g.Go(func() error { return s.copyImage(gctx, u, source, region) })
	}
	return g.Wait()
}

func (s *state) copyImage(ctx context.Context, u *step.Undo, source, region string) error {
	c, err := s.clients(ctx, region)
	if err != nil {
		return err
	}
	token := s.clientToken("copy-image/" + region)
	in := &ec2.CopyImageInput{
		Name:          aws.String(s.amiName),
		SourceImageId: aws.String(source),
		SourceRegion:  aws.String(s.region),
		ClientToken:   aws.String(token),
		// The copy and its snapshots are temporary from the moment they
		// exist, as every resource of a build.
		TagSpecifications: []types.TagSpecification{
			awsutil.TagSpec(types.ResourceTypeImage, s.tempTags),
			awsutil.TagSpec(types.ResourceTypeSnapshot, s.tempTags),
		},
	}
	if d := s.cfg.SnapshotCopyDurationMinutes; d > 0 {
		in.SnapshotCopyCompletionDurationMinutes = aws.Int64(int64(d))
	}
	if desc, err := s.render(s.cfg.AMIDescription, region); err != nil {
		return fmt.Errorf("ami_description: %w", err)
	} else if desc != "" {
		in.Description = aws.String(desc)
	}
	if key, ok := s.cfg.RegionKMSKeyIDs[region]; ok || (s.cfg.EncryptBoot != nil && *s.cfg.EncryptBoot) {
		in.Encrypted = aws.Bool(true)
		if key != "" {
			in.KmsKeyId = aws.String(key)
		}
	}
	// The intent names the copy by its AMI name, unique in its region:
	// images cannot be looked up by client token.
	out, err := create(ctx, s.journal, region, kindImage, s.amiName, c.CopyImage, in)
	if err != nil {
		return regionalError(region, "copy image "+source, err)
	}
	id := aws.ToString(out.ImageId)
	if err := s.trackImage(u, region, s.amiName, id); err != nil {
		return err
	}
	// Tagged again: an EC2 that drops the tag specifications of CopyImage
	// (moto does) would otherwise leave the copy unmarked.
	if _, err := c.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: s.tempTags}); err != nil {
		return regionalError(region, "tag image copy "+id, err)
	}
	s.say("copying %s to %s as %s", source, region, id)
	return s.awaitImage(ctx, region, c, id)
}

// stepShare grants launch and snapshot permissions, and sets deprecation
// and IMDS support, in every region.
func stepShare(ctx context.Context, s *state, _ *step.Undo) error {
	if s.cfg.SkipCreateAMI {
		return nil
	}
	c := s.cfg
	var perms []types.LaunchPermission
	for _, id := range c.AMIUsers {
		perms = append(perms, types.LaunchPermission{UserId: aws.String(id)})
	}
	for _, g := range c.AMIGroups {
		perms = append(perms, types.LaunchPermission{Group: types.PermissionGroup(g)})
	}
	for _, arn := range c.AMIOrgARNs {
		perms = append(perms, types.LaunchPermission{OrganizationArn: aws.String(arn)})
	}
	for _, arn := range c.AMIOUARNs {
		perms = append(perms, types.LaunchPermission{OrganizationalUnitArn: aws.String(arn)})
	}
	var volPerms []types.CreateVolumePermission
	for _, id := range c.SnapshotUsers {
		volPerms = append(volPerms, types.CreateVolumePermission{UserId: aws.String(id)})
	}
	for _, g := range c.SnapshotGroups {
		volPerms = append(volPerms, types.CreateVolumePermission{Group: types.PermissionGroup(g)})
	}
	var deprecateAt time.Time
	if c.DeprecateAt != "" {
		v, err := s.render(c.DeprecateAt, s.region)
		if err != nil {
			return fmt.Errorf("deprecate_at: %w", err)
		}
		if deprecateAt, err = time.Parse(time.RFC3339, v); err != nil {
			return fmt.Errorf("deprecate_at %q is not an RFC 3339 time: %w", v, err)
		}
	}
	for _, region := range s.kept() {
		client, err := s.clients(ctx, region)
		if err != nil {
			return err
		}
		id := s.images[region]
		if len(c.AMIProductCodes) > 0 {
			if _, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId: aws.String(id), ProductCodes: c.AMIProductCodes,
			}); err != nil {
				return regionalError(region, "set ami_product_codes of image "+id, err)
			}
		}
		if len(perms) > 0 {
			if _, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId:          aws.String(id),
				LaunchPermission: &types.LaunchPermissionModifications{Add: perms},
			}); err != nil {
				return regionalError(region, "share image "+id, err)
			}
		}
		if len(volPerms) > 0 {
			for _, snap := range s.snapshots[region] {
				if _, err := client.ModifySnapshotAttribute(ctx, &ec2.ModifySnapshotAttributeInput{
					SnapshotId:             aws.String(snap),
					Attribute:              types.SnapshotAttributeNameCreateVolumePermission,
					CreateVolumePermission: &types.CreateVolumePermissionModifications{Add: volPerms},
				}); err != nil {
					return regionalError(region, "share snapshot "+snap, err)
				}
			}
		}
		if c.IMDSSupport != "" {
			if _, err := client.ModifyImageAttribute(ctx, &ec2.ModifyImageAttributeInput{
				ImageId:     aws.String(id),
				ImdsSupport: &types.AttributeValue{Value: aws.String(c.IMDSSupport)},
			}); err != nil {
				return regionalError(region, "set imds_support of image "+id, err)
			}
		}
		if !deprecateAt.IsZero() {
			if _, err := client.EnableImageDeprecation(ctx, &ec2.EnableImageDeprecationInput{
				ImageId: aws.String(id), DeprecateAt: aws.Time(deprecateAt),
			}); err != nil {
				return regionalError(region, "set deprecate_at of image "+id, err)
			}
		}
	}
	return nil
}

// imageTags returns the tags of the image in region: tags, with the
// run_tags it does not set unless skip_ami_run_tags (as in Packer), and the
// family's lineage.
func (s *state) imageTags(region string) (map[string]string, error) {
	tags, err := s.renderTags(s.cfg.Tags, region)
	if err != nil {
		return nil, fmt.Errorf("tags: %w", err)
	}
	if !s.cfg.SkipAMIRunTags {
		run, err := s.renderTags(s.cfg.RunTags, region)
		if err != nil {
			return nil, fmt.Errorf("run_tags: %w", err)
		}
		for k, v := range run {
			if _, ok := tags[k]; !ok {
				tags[k] = v
			}
		}
	}
	maps.Copy(tags, s.lineage)
	return tags, nil
}

// stepTag applies tags to the images and their snapshots and snapshot_tags
// to the snapshots (rendered per region), then removes
// the temporary marks: from here on the images are the build's result.
func stepTag(ctx context.Context, s *state, _ *step.Undo) error {
	if s.cfg.SkipCreateAMI {
		return nil
	}
	temporary := []types.Tag{
		{Key: aws.String(awsutil.TagTemporary)},
		{Key: aws.String(awsutil.TagExpiresAt)},
		{Key: aws.String(awsutil.TagCreatedAt)},
	}
	for _, region := range s.kept() {
		client, err := s.clients(ctx, region)
		if err != nil {
			return err
		}
		id, snaps := s.images[region], s.snapshots[region]
		tags, err := s.imageTags(region)
		if err != nil {
			return err
		}
		// As in Packer, snapshots get the AMI's tags, overridden by
		// snapshot_tags.
		snapTags, err := s.renderTags(s.cfg.SnapshotTags, region)
		if err != nil {
			return fmt.Errorf("snapshot_tags: %w", err)
		}
		for k, v := range tags {
			if _, ok := snapTags[k]; !ok {
				snapTags[k] = v
			}
		}
		if len(tags) > 0 {
			if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: awsutil.Tags(tags)}); err != nil {
				return regionalError(region, "tag image "+id, err)
			}
		}
		if len(snapTags) > 0 && len(snaps) > 0 {
			if _, err := client.CreateTags(ctx, &ec2.CreateTagsInput{Resources: snaps, Tags: awsutil.Tags(snapTags)}); err != nil {
				return regionalError(region, "tag snapshots of "+id, err)
			}
		}
		if _, err := client.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: append([]string{id}, snaps...), Tags: temporary}); err != nil {
			return regionalError(region, "untag image "+id, err)
		}
		// Last: a protected image can no longer be removed if the build
		// fails.
		if p := s.cfg.DeregistrationProtection; p != nil && p.Enabled {
			if _, err := client.EnableImageDeregistrationProtection(ctx, &ec2.EnableImageDeregistrationProtectionInput{
				ImageId: aws.String(id), WithCooldown: aws.Bool(p.WithCooldown),
			}); err != nil {
				return regionalError(region, "enable deregistration protection of image "+id, err)
			}
		}
	}
	// The images are kept: the journal no longer needs to account for them.
	for _, region := range s.kept() {
		if err := s.journal.Done(region, kindImage, s.images[region]); err != nil {
			return err
		}
	}
	return nil
}
