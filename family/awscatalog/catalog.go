package awscatalog

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/kilnhq/kiln/family"
)

// EC2 is the part of the EC2 API the catalog calls.
type EC2 interface {
	DescribeImages(context.Context, *ec2.DescribeImagesInput, ...func(*ec2.Options)) (*ec2.DescribeImagesOutput, error)
	DescribeInstances(context.Context, *ec2.DescribeInstancesInput, ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error)
	DescribeLaunchTemplateVersions(context.Context, *ec2.DescribeLaunchTemplateVersionsInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplateVersionsOutput, error)
	DescribeLaunchTemplates(context.Context, *ec2.DescribeLaunchTemplatesInput, ...func(*ec2.Options)) (*ec2.DescribeLaunchTemplatesOutput, error)
	DeregisterImage(context.Context, *ec2.DeregisterImageInput, ...func(*ec2.Options)) (*ec2.DeregisterImageOutput, error)
	DeleteSnapshot(context.Context, *ec2.DeleteSnapshotInput, ...func(*ec2.Options)) (*ec2.DeleteSnapshotOutput, error)
	CreateTags(context.Context, *ec2.CreateTagsInput, ...func(*ec2.Options)) (*ec2.CreateTagsOutput, error)
}

// SSM is the part of the SSM API the catalog calls.
type SSM interface {
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	GetParametersByPath(context.Context, *ssm.GetParametersByPathInput, ...func(*ssm.Options)) (*ssm.GetParametersByPathOutput, error)
	GetParameterHistory(context.Context, *ssm.GetParameterHistoryInput, ...func(*ssm.Options)) (*ssm.GetParameterHistoryOutput, error)
}

// Clients returns the EC2 and SSM clients of a region.
type Clients func(ctx context.Context, region string) (EC2, SSM, error)

// Catalog is a family.Catalog on AWS. Its first region is the home region:
// channels are read there; images are looked for in every region.
type Catalog struct {
	regions []string
	clients Clients
}

var _ family.Catalog = (*Catalog)(nil)

// New returns a catalog over regions (the first is the home region).
func New(clients Clients, regions ...string) (*Catalog, error) {
	if len(regions) == 0 {
		return nil, errors.New("awscatalog: no region")
	}
	return &Catalog{regions: slices.Compact(regions), clients: clients}, nil
}

// NewFromConfig returns a catalog whose clients are made from cfg, with
// cfg.Region as home region followed by regions. ec2Endpoint, when set,
// replaces the EC2 endpoint (custom_endpoint_ec2).
func NewFromConfig(cfg aws.Config, ec2Endpoint string, regions ...string) (*Catalog, error) {
	var mu sync.Mutex
	type pair struct {
		e EC2
		s SSM
	}
	cache := map[string]pair{}
	clients := func(_ context.Context, region string) (EC2, SSM, error) {
		mu.Lock()
		defer mu.Unlock()
		if p, ok := cache[region]; ok {
			return p.e, p.s, nil
		}
		c := cfg.Copy()
		c.Region = region
		p := pair{
			e: ec2.NewFromConfig(c, func(o *ec2.Options) {
				if ec2Endpoint != "" {
					o.BaseEndpoint = aws.String(ec2Endpoint)
				}
			}),
			s: ssm.NewFromConfig(c),
		}
		cache[region] = p
		return p.e, p.s, nil
	}
	all := append([]string{cfg.Region}, regions...)
	var out []string
	for _, r := range all {
		if r != "" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return New(clients, out...)
}

// Regions returns the catalog's regions, home first.
func (c *Catalog) Regions() []string { return slices.Clone(c.regions) }

// ParameterName is the SSM parameter of a family's channel.
func ParameterName(fam, channel string) string { return "/kiln/" + fam + "/" + channel }

// Images returns family's versions, oldest first.
func (c *Catalog) Images(ctx context.Context, fam string) ([]family.Image, error) {
	byVersion := map[string]*family.Image{}
	for _, region := range c.regions {
		e, _, err := c.clients(ctx, region)
		if err != nil {
			return nil, err
		}
		in := &ec2.DescribeImagesInput{
			Owners:  []string{"self"},
			Filters: []ec2types.Filter{{Name: aws.String("tag:" + family.TagFamily), Values: []string{fam}}},
		}
		for {
			out, err := e.DescribeImages(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("list images of family %s in %s: %w", fam, region, err)
			}
			for _, im := range out.Images {
				if im.State == ec2types.ImageStateDeregistered {
					continue
				}
				tags := tagMap(im.Tags)
				v := tags[family.TagVersion]
				if v == "" {
					continue
				}
				img := byVersion[v]
				if img == nil {
					created, _ := time.Parse(time.RFC3339, aws.ToString(im.CreationDate))
					img = &family.Image{
						Family: fam, Version: v, Name: aws.ToString(im.Name),
						Status: tags[family.TagStatus], Inputs: tags[family.TagInputs],
						Created: created, Tags: tags,
						IDs: map[string]string{}, Snapshots: map[string][]string{},
					}
					byVersion[v] = img
				}
				img.IDs[region] = aws.ToString(im.ImageId)
				for _, bd := range im.BlockDeviceMappings {
					if bd.Ebs != nil && bd.Ebs.SnapshotId != nil {
						img.Snapshots[region] = append(img.Snapshots[region], *bd.Ebs.SnapshotId)
					}
				}
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	}
	imgs := make([]family.Image, 0, len(byVersion))
	for _, img := range byVersion {
		imgs = append(imgs, *img)
	}
	family.SortImages(imgs)
	return imgs, nil
}

// Channels reads the family's channel parameters in the home region.
func (c *Catalog) Channels(ctx context.Context, fam string) (map[string]string, error) {
	_, s, err := c.clients(ctx, c.regions[0])
	if err != nil {
		return nil, err
	}
	byID, err := c.versionsByID(ctx, fam)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	prefix := ParameterName(fam, "")
	in := &ssm.GetParametersByPathInput{Path: aws.String(strings.TrimSuffix(prefix, "/"))}
	for {
		res, err := s.GetParametersByPath(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("read channels of family %s: %w", fam, err)
		}
		for _, p := range res.Parameters {
			ch := strings.TrimPrefix(aws.ToString(p.Name), prefix)
			out[ch] = byID[aws.ToString(p.Value)]
		}
		if aws.ToString(res.NextToken) == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	return out, nil
}

// versionsByID maps every AMI ID of the family (any region) to its version.
func (c *Catalog) versionsByID(ctx context.Context, fam string) (map[string]string, error) {
	imgs, err := c.Images(ctx, fam)
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	for _, img := range imgs {
		for _, id := range img.IDs {
			m[id] = img.Version
		}
	}
	return m, nil
}

// Point writes the channel's parameter in every region the image exists in.
func (c *Catalog) Point(ctx context.Context, img family.Image, channel string) error {
	if err := family.CheckChannel(channel); err != nil {
		return err
	}
	for _, region := range slices.Sorted(maps.Keys(img.IDs)) {
		_, s, err := c.clients(ctx, region)
		if err != nil {
			return err
		}
		_, err = s.PutParameter(ctx, &ssm.PutParameterInput{
			Name:        aws.String(ParameterName(img.Family, channel)),
			Value:       aws.String(img.IDs[region]),
			Type:        ssmtypes.ParameterTypeString,
			DataType:    aws.String("aws:ec2:image"),
			Overwrite:   aws.Bool(true),
			Description: aws.String(fmt.Sprintf("kiln: %s %s", img.Family, img.Version)),
		})
		if err != nil {
			return fmt.Errorf("point %s at %s in %s: %w", ParameterName(img.Family, channel), img.IDs[region], region, err)
		}
	}
	return nil
}

// History returns the home region's parameter history, oldest first.
func (c *Catalog) History(ctx context.Context, fam, channel string) ([]family.Move, error) {
	region := c.regions[0]
	_, s, err := c.clients(ctx, region)
	if err != nil {
		return nil, err
	}
	byID, err := c.versionsByID(ctx, fam)
	if err != nil {
		return nil, err
	}
	var moves []family.Move
	in := &ssm.GetParameterHistoryInput{Name: aws.String(ParameterName(fam, channel))}
	for {
		out, err := s.GetParameterHistory(ctx, in)
		var nf *ssmtypes.ParameterNotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("channel %s of family %s: %w", channel, fam, family.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read history of %s: %w", ParameterName(fam, channel), err)
		}
		for _, h := range out.Parameters {
			id := aws.ToString(h.Value)
			moves = append(moves, family.Move{Version: byID[id], Region: region, ID: id, Time: aws.ToTime(h.LastModifiedDate)})
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	return moves, nil
}

// SetStatus tags the image and its snapshots in every region.
func (c *Catalog) SetStatus(ctx context.Context, img family.Image, status string) error {
	for _, region := range slices.Sorted(maps.Keys(img.IDs)) {
		e, _, err := c.clients(ctx, region)
		if err != nil {
			return err
		}
		res := append([]string{img.IDs[region]}, img.Snapshots[region]...)
		if _, err := e.CreateTags(ctx, &ec2.CreateTagsInput{
			Resources: res,
			Tags:      []ec2types.Tag{{Key: aws.String(family.TagStatus), Value: aws.String(status)}},
		}); err != nil {
			return fmt.Errorf("set status of %s %s in %s: %w", img.Family, img.Version, region, err)
		}
	}
	return nil
}

// Delete deregisters the image and deletes its snapshots in every region.
func (c *Catalog) Delete(ctx context.Context, img family.Image) error {
	for _, region := range slices.Sorted(maps.Keys(img.IDs)) {
		e, _, err := c.clients(ctx, region)
		if err != nil {
			return err
		}
		id := img.IDs[region]
		if _, err := e.DeregisterImage(ctx, &ec2.DeregisterImageInput{ImageId: aws.String(id)}); err != nil && !notFound(err) {
			return fmt.Errorf("deregister %s in %s: %w", id, region, err)
		}
		for _, snap := range img.Snapshots[region] {
			if _, err := e.DeleteSnapshot(ctx, &ec2.DeleteSnapshotInput{SnapshotId: aws.String(snap)}); err != nil && !notFound(err) {
				return fmt.Errorf("delete snapshot %s of %s in %s: %w", snap, id, region, err)
			}
		}
	}
	return nil
}

// InUse finds the family's images that a pending or running instance runs,
// or that a launch template's default version launches, in every region.
func (c *Catalog) InUse(ctx context.Context, fam string) (map[string]string, error) {
	byID, err := c.versionsByID(ctx, fam)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	if len(byID) == 0 {
		return out, nil
	}
	ids := slices.Sorted(maps.Keys(byID))
	for _, region := range c.regions {
		e, _, err := c.clients(ctx, region)
		if err != nil {
			return nil, err
		}
		in := &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
			{Name: aws.String("image-id"), Values: ids},
			{Name: aws.String("instance-state-name"), Values: []string{"pending", "running"}},
		}}
		for {
			res, err := e.DescribeInstances(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("find instances of family %s in %s: %w", fam, region, err)
			}
			for _, r := range res.Reservations {
				for _, inst := range r.Instances {
					if v := byID[aws.ToString(inst.ImageId)]; v != "" {
						out[v] = fmt.Sprintf("instance %s in %s", aws.ToString(inst.InstanceId), region)
					}
				}
			}
			if aws.ToString(res.NextToken) == "" {
				break
			}
			in.NextToken = res.NextToken
		}
		lts, err := e.DescribeLaunchTemplates(ctx, &ec2.DescribeLaunchTemplatesInput{})
		if err != nil {
			return nil, fmt.Errorf("list launch templates in %s: %w", region, err)
		}
		for _, lt := range lts.LaunchTemplates {
			vs, err := e.DescribeLaunchTemplateVersions(ctx, &ec2.DescribeLaunchTemplateVersionsInput{
				LaunchTemplateId: lt.LaunchTemplateId, Versions: []string{"$Default"},
			})
			if err != nil {
				return nil, fmt.Errorf("read launch template %s in %s: %w", aws.ToString(lt.LaunchTemplateId), region, err)
			}
			for _, v := range vs.LaunchTemplateVersions {
				if v.LaunchTemplateData == nil {
					continue
				}
				if ver := byID[aws.ToString(v.LaunchTemplateData.ImageId)]; ver != "" {
					out[ver] = fmt.Sprintf("default version of launch template %s in %s", aws.ToString(lt.LaunchTemplateName), region)
				}
			}
		}
	}
	return out, nil
}

func tagMap(tags []ec2types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func notFound(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "NotFound")
}
