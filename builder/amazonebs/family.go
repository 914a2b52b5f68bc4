package amazonebs

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/family"
	"github.com/kilnhq/kiln/family/awscatalog"
	"github.com/kilnhq/kiln/internal/awsimage"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

var (
	_ family.Builder = (*Builder)(nil)
	_ family.Tester  = (*Builder)(nil)
)

// access returns the configuration with its region resolved, and the EC2
// clients.
func (b *Builder) access(ctx context.Context) (Config, ClientFunc, error) {
	cfg := b.cfg
	if cfg.Region == "" {
		awsCfg, err := cfg.AccessConfig.Load(ctx, "")
		if err != nil {
			return cfg, nil, fmt.Errorf("amazon-ebs: %w", err)
		}
		cfg.Region = awsCfg.Region
	}
	clients := b.clients
	if clients == nil {
		clients = NewClients(&cfg.AccessConfig)
	}
	return cfg, clients, nil
}

// FamilyCatalog returns the AWS catalog of the build region and the
// ami_regions; its family tags tell families apart.
func (b *Builder) FamilyCatalog(ctx context.Context, _ string) (family.Catalog, error) {
	cfg, _, err := b.access(ctx)
	if err != nil {
		return nil, err
	}
	awsCfg, err := cfg.AccessConfig.Load(ctx, cfg.Region)
	if err != nil {
		return nil, fmt.Errorf("amazon-ebs: %w", err)
	}
	return awscatalog.NewFromConfig(awsCfg, cfg.CustomEndpointEC2, cfg.AMIRegions...)
}

// contentConfig is what of the configuration decides an image's content.
type contentConfig struct {
	InstanceType       string            `json:"instance_type,omitempty"`
	SpotInstanceTypes  []string          `json:"spot_instance_types,omitempty"`
	IAMInstanceProfile string            `json:"iam_instance_profile,omitempty"`
	UserData           string            `json:"user_data,omitempty"`
	Metadata           *MetadataOptions  `json:"metadata_options,omitempty"`
	LaunchBlockDevices []BlockDevice     `json:"launch_block_device_mappings,omitempty"`
	AMIBlockDevices    []BlockDevice     `json:"ami_block_device_mappings,omitempty"`
	EncryptBoot        *bool             `json:"encrypt_boot,omitempty"`
	KMSKeyID           string            `json:"kms_key_id,omitempty"`
	RegionKMSKeyIDs    map[string]string `json:"region_kms_key_ids,omitempty"`
	IMDSSupport        string            `json:"imds_support,omitempty"`
	SSHUsername        string            `json:"ssh_username,omitempty"`
}

// FamilySource resolves the source AMI in the build region and returns the
// content configuration (user_data_file by its bytes) as JSON.
func (b *Builder) FamilySource(ctx context.Context) ([]byte, string, error) {
	cfg, clients, err := b.access(ctx)
	if err != nil {
		return nil, "", err
	}
	c, err := clients(ctx, cfg.Region)
	if err != nil {
		return nil, "", fmt.Errorf("amazon-ebs: %w", err)
	}
	img, err := awsimage.Find(ctx, c, cfg.SourceAMI, cfg.SourceAMIFilter)
	if err != nil {
		return nil, "", fmt.Errorf("find source AMI in %s: %w", cfg.Region, err)
	}
	cc := contentConfig{
		InstanceType: cfg.InstanceType, SpotInstanceTypes: cfg.SpotInstanceTypes,
		IAMInstanceProfile: cfg.IAMInstanceProfile, UserData: cfg.UserData, Metadata: cfg.Metadata,
		LaunchBlockDevices: cfg.LaunchBlockDevices, AMIBlockDevices: cfg.AMIBlockDevices,
		EncryptBoot: cfg.EncryptBoot, KMSKeyID: cfg.KMSKeyID, RegionKMSKeyIDs: cfg.RegionKMSKeyIDs,
		IMDSSupport: cfg.IMDSSupport, SSHUsername: cfg.Comm.Username,
	}
	if cfg.UserDataFile != "" {
		data, err := os.ReadFile(cfg.UserDataFile)
		if err != nil {
			return nil, "", fmt.Errorf("user_data_file: %w", err)
		}
		cc.UserData = string(data)
	}
	out, err := json.Marshal(cc)
	if err != nil {
		return nil, "", err
	}
	return out, aws.ToString(img.ImageId), nil
}

// ImageName returns ami_name evaluated for fam's version, or
// FAMILY-VERSION when it is not set (legacy {{ }} strings are rendered when
// the image is made).
func (b *Builder) ImageName(fam, version string) (string, error) {
	name, err := b.names.Value("ami_name", fam, version, family.DefaultName(fam, version))
	if err != nil {
		return "", fmt.Errorf("amazon-ebs: %w", err)
	}
	return name, nil
}

// FamilyArtifact returns the Artifact of an existing family image.
func (b *Builder) FamilyArtifact(img family.Image) artifact.Artifact {
	cfg := b.cfg
	clients := b.clients
	if clients == nil {
		clients = NewClients(&cfg.AccessConfig)
	}
	region := cfg.Region
	if _, ok := img.IDs[region]; !ok {
		for r := range img.IDs {
			region = r
		}
	}
	return &Artifact{
		Images: maps.Clone(img.IDs), Snapshots: maps.Clone(img.Snapshots), Tags: maps.Clone(img.Tags),
		BuildRegion: region, SourceAMI: img.Tags[family.TagSourceImage],
		clients: clients,
		remover: remover{waits: b.waits, waiter: func(d time.Duration) awsutil.Waiter {
			return awsutil.Waiter{Delay: cfg.PollDelay(), First: b.waits.first, Max: b.waits.max, Timeout: cfg.WaitTimeout(d)}
		}},
	}
}

// TestImage launches a fresh instance from img in the build region, as the
// build launches its instance (network, temporary key pair and security
// group, host key verified), calls hook over SSH, and removes everything.
func (b *Builder) TestImage(ctx context.Context, env *builder.Env, img family.Image, hook builder.Hook) error {
	cfg, _, err := b.access(ctx)
	if err != nil {
		return err
	}
	id, ok := img.IDs[cfg.Region]
	if !ok {
		return fmt.Errorf("amazon-ebs: test %s %s: no image in %s", img.Family, img.Version, cfg.Region)
	}
	cfg.SourceAMI, cfg.SourceAMIFilter = id, nil
	cfg.SkipCreateAMI = true
	steps := append([]step.Step[state]{{Name: "test-image", Run: stepTestImage}}, machineSteps()...)
	_, err = b.run(ctx, env, hook, cfg, steps)
	return err
}

// stepTestImage finds the image under test. It is the build's own image,
// so its root device type is not checked (moto reports "standard" for the
// images it makes).
func stepTestImage(ctx context.Context, s *state, _ *step.Undo) error {
	out, err := s.ec2.DescribeImages(ctx, &ec2.DescribeImagesInput{ImageIds: []string{s.cfg.SourceAMI}})
	if err != nil {
		return fmt.Errorf("find image %s: %w", s.cfg.SourceAMI, err)
	}
	if len(out.Images) != 1 {
		return fmt.Errorf("find image %s: %d found", s.cfg.SourceAMI, len(out.Images))
	}
	s.source = out.Images[0]
	s.say("testing image %s (%s) on a fresh instance", s.cfg.SourceAMI, aws.ToString(s.source.Name))
	return nil
}
