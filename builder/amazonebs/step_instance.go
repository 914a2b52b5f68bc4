package amazonebs

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/awsutil"
	"github.com/kilnhq/kiln/step"
)

// clientToken derives an idempotency token (at most 64 characters) for one
// call named op of this build. The SDK's retries of that call reuse it; a
// step retried after its undo gets a new one, so it does not get back the
// resource that undo removed.
func (s *state) clientToken(op string) string {
	n := s.tokens.Add(1)
	sum := sha256.Sum256([]byte(s.build + "/" + op + "/" + strconv.FormatInt(n, 10)))
	return "kiln-" + hex.EncodeToString(sum[:16])
}

// stepLaunch starts the temporary instance (on demand, or spot through an
// instant fleet) and waits until it runs.
func stepLaunch(ctx context.Context, s *state, u *step.Undo) error {
	runTags, err := s.renderTags(s.cfg.RunTags, s.region)
	if err != nil {
		return fmt.Errorf("run_tags: %w", err)
	}
	volTags, err := s.renderTags(s.cfg.RunVolumeTags, s.region)
	if err != nil {
		return fmt.Errorf("run_volume_tags: %w", err)
	}
	if _, ok := runTags["Name"]; !ok {
		runTags["Name"] = "kiln " + s.env.Info.Name
	}
	tagSpecs := []types.TagSpecification{
		awsutil.TagSpec(types.ResourceTypeInstance, awsutil.Tags(runTags), s.tempTags),
		awsutil.TagSpec(types.ResourceTypeVolume, awsutil.Tags(volTags), s.tempTags),
	}
	launch := launchOnDemand
	if s.cfg.SpotPrice != "" {
		launch = launchSpot
	}
	id, err := launch(ctx, s, u, tagSpecs)
	if err != nil {
		return err
	}
	s.say("instance %s launched, waiting until it runs", id)
	return s.waiter(s.waits.instance).Wait(ctx, "instance "+id, "running", func(ctx context.Context) (string, bool, error) {
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if notFound(err) {
			return "not visible yet", false, nil
		}
		if err != nil {
			return "", false, err
		}
		in := firstInstance(out)
		if in == nil {
			return "not visible yet", false, nil
		}
		switch in.State.Name {
		case types.InstanceStateNameRunning:
			s.instance = *in
			s.attachVolumes(id, in.BlockDeviceMappings)
			return "running", true, nil
		case types.InstanceStateNamePending:
			return "pending", false, nil
		}
		reason := aws.ToString(in.StateTransitionReason)
		if in.StateReason != nil {
			reason = aws.ToString(in.StateReason.Message)
		}
		return "", false, fmt.Errorf("instance %s is %s: %s", id, in.State.Name, reason)
	})
}

func (s *state) blockDevices() []types.BlockDeviceMapping {
	out := blockDeviceMappings(s.cfg.LaunchBlockDevices)
	if s.cfg.NoEphemeral {
		// no_ephemeral: keep instance store volumes out of the instance
		// (and so of the image), as the EC2 console does, by mapping every
		// device name EC2 would give them to nothing.
		for c := 'a'; c <= 'z'; c++ {
			out = append(out, types.BlockDeviceMapping{DeviceName: aws.String("xvdc" + string(c)), NoDevice: aws.String("")})
		}
	}
	if s.cfg.EncryptBoot == nil || !*s.cfg.EncryptBoot {
		return out
	}
	// encrypt_boot: the root volume is encrypted at launch, so the image's
	// snapshot is encrypted without an intermediate copy.
	root := aws.ToString(s.source.RootDeviceName)
	for i := range out {
		if aws.ToString(out[i].DeviceName) == root && out[i].Ebs != nil {
			out[i].Ebs.Encrypted = aws.Bool(true)
			if s.cfg.KMSKeyID != "" {
				out[i].Ebs.KmsKeyId = aws.String(s.cfg.KMSKeyID)
			}
			return out
		}
	}
	ebs := &types.EbsBlockDevice{Encrypted: aws.Bool(true), DeleteOnTermination: aws.Bool(true)}
	if s.cfg.KMSKeyID != "" {
		ebs.KmsKeyId = aws.String(s.cfg.KMSKeyID)
	}
	return append(out, types.BlockDeviceMapping{DeviceName: aws.String(root), Ebs: ebs})
}

func blockDeviceMappings(devs []BlockDevice) []types.BlockDeviceMapping {
	var out []types.BlockDeviceMapping
	for _, d := range devs {
		m := types.BlockDeviceMapping{DeviceName: aws.String(d.DeviceName)}
		switch {
		case d.NoDevice:
			m.NoDevice = aws.String("")
		case d.VirtualName != "":
			m.VirtualName = aws.String(d.VirtualName)
		default:
			ebs := &types.EbsBlockDevice{
				DeleteOnTermination: aws.Bool(d.DeleteOnTermination == nil || *d.DeleteOnTermination),
				Encrypted:           d.Encrypted,
			}
			if d.VolumeType != "" {
				ebs.VolumeType = types.VolumeType(d.VolumeType)
			}
			if d.VolumeSize > 0 {
				ebs.VolumeSize = aws.Int32(int32(d.VolumeSize))
			}
			if d.IOPS > 0 {
				ebs.Iops = aws.Int32(int32(d.IOPS))
			}
			if d.Throughput > 0 {
				ebs.Throughput = aws.Int32(int32(d.Throughput))
			}
			if d.KMSKeyID != "" {
				ebs.KmsKeyId = aws.String(d.KMSKeyID)
			}
			if d.SnapshotID != "" {
				ebs.SnapshotId = aws.String(d.SnapshotID)
			}
			m.Ebs = ebs
		}
		out = append(out, m)
	}
	return out
}

func (s *state) metadataOptions() *types.InstanceMetadataOptionsRequest {
	m := &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired}
	if o := s.cfg.Metadata; o != nil {
		if o.HTTPTokens != "" {
			m.HttpTokens = types.HttpTokensState(o.HTTPTokens)
		}
		if o.HTTPEndpoint != "" {
			m.HttpEndpoint = types.InstanceMetadataEndpointState(o.HTTPEndpoint)
		}
		if o.HTTPPutResponseHopLimit > 0 {
			m.HttpPutResponseHopLimit = aws.Int32(int32(o.HTTPPutResponseHopLimit))
		}
		if o.InstanceMetadataTags != "" {
			m.InstanceMetadataTags = types.InstanceMetadataTagsState(o.InstanceMetadataTags)
		}
	}
	return m
}

func launchOnDemand(ctx context.Context, s *state, u *step.Undo, tagSpecs []types.TagSpecification) (string, error) {
	c := s.cfg
	token := s.clientToken("run-instances")
	in := &ec2.RunInstancesInput{
		ImageId:           s.source.ImageId,
		InstanceType:      types.InstanceType(c.InstanceType),
		MinCount:          aws.Int32(1),
		MaxCount:          aws.Int32(1),
		UserData:          aws.String(encodeUserData(s.userData)),
		ClientToken:       aws.String(token),
		MetadataOptions:   s.metadataOptions(),
		TagSpecifications: tagSpecs,
	}
	if bdm := s.blockDevices(); len(bdm) > 0 {
		in.BlockDeviceMappings = bdm
	}
	if s.keyName != "" {
		in.KeyName = aws.String(s.keyName)
	}
	if c.IAMInstanceProfile != "" {
		in.IamInstanceProfile = instanceProfile(c.IAMInstanceProfile)
	}
	if c.ShutdownBehavior != "" {
		in.InstanceInitiatedShutdownBehavior = types.ShutdownBehavior(c.ShutdownBehavior)
	}
	if c.AssociatePublicIP != nil {
		in.NetworkInterfaces = []types.InstanceNetworkInterfaceSpecification{{
			DeviceIndex:              aws.Int32(0),
			AssociatePublicIpAddress: c.AssociatePublicIP,
			SubnetId:                 optional(s.subnetID),
			Groups:                   s.sgIDs,
			DeleteOnTermination:      aws.Bool(true),
		}}
	} else {
		in.SubnetId = optional(s.subnetID)
		in.SecurityGroupIds = s.sgIDs
	}
	o := s.launchOptions()
	in.Placement = o.placement
	in.EbsOptimized = o.ebsOptimized
	in.CapacityReservationSpecification = o.capacity
	in.CreditSpecification = o.credits
	in.EnclaveOptions = o.enclave
	in.LicenseSpecifications = o.licenses
	out, err := create(ctx, s.journal, s.region, kindInstance, token, s.ec2.RunInstances, in)
	if err != nil {
		return "", fmt.Errorf("launch instance from %s: %w", aws.ToString(s.source.ImageId), err)
	}
	if len(out.Instances) == 0 {
		return "", errors.Join(errors.New("launch instance: EC2 returned no instance"), s.journal.Refused(s.region, kindInstance, token))
	}
	id := aws.ToString(out.Instances[0].InstanceId)
	s.instance = out.Instances[0]
	return id, s.trackInstance(u, token, id)
}

// launchOptions are the instance options that RunInstances and the spot
// path's launch template both carry, in RunInstances' types.
type launchOptions struct {
	placement    *types.Placement
	ebsOptimized *bool
	capacity     *types.CapacityReservationSpecification
	credits      *types.CreditSpecificationRequest
	enclave      *types.EnclaveOptionsRequest
	licenses     []types.LicenseConfigurationRequest
}

func (s *state) launchOptions() launchOptions {
	c := s.cfg
	var o launchOptions
	var p types.Placement
	if s.az != "" && s.subnetID == "" {
		p.AvailabilityZone = aws.String(s.az)
	}
	if pl := c.Placement; pl != nil {
		p.HostResourceGroupArn = optional(pl.HostResourceGroupARN)
		p.HostId = optional(pl.HostID)
		p.Tenancy = types.Tenancy(pl.Tenancy)
		if p.Tenancy == "" && (pl.HostResourceGroupARN != "" || pl.HostID != "") {
			p.Tenancy = types.TenancyHost // a Dedicated Host means host tenancy
		}
	}
	if p != (types.Placement{}) {
		o.placement = &p
	}
	if c.EBSOptimized {
		o.ebsOptimized = aws.Bool(true)
	}
	switch {
	case c.CapacityReservationPreference != "":
		o.capacity = &types.CapacityReservationSpecification{CapacityReservationPreference: types.CapacityReservationPreference(c.CapacityReservationPreference)}
	case c.CapacityReservationID != "" || c.CapacityReservationGroupARN != "":
		o.capacity = &types.CapacityReservationSpecification{CapacityReservationTarget: &types.CapacityReservationTarget{
			CapacityReservationId:               optional(c.CapacityReservationID),
			CapacityReservationResourceGroupArn: optional(c.CapacityReservationGroupARN),
		}}
	}
	if c.EnableUnlimitedCredits {
		o.credits = &types.CreditSpecificationRequest{CpuCredits: aws.String("unlimited")}
	}
	if c.EnableNitroEnclave {
		o.enclave = &types.EnclaveOptionsRequest{Enabled: aws.Bool(true)}
	}
	for _, l := range c.LicenseSpecifications {
		o.licenses = append(o.licenses, types.LicenseConfigurationRequest{LicenseConfigurationArn: aws.String(l.Request.ARN)})
	}
	return o
}

// attachVolumes names the EBS volumes of running instance id in what its
// undo reports left behind: they stay as long as the instance does (and
// those with delete_on_termination = false even after).
func (s *state) attachVolumes(id string, bdm []types.InstanceBlockDeviceMapping) {
	if s.undo == nil {
		return
	}
	var vols []string
	for _, m := range bdm {
		if m.Ebs != nil && m.Ebs.VolumeId != nil {
			vols = append(vols, fmt.Sprintf("%s %s in %s (of instance %s)", kindVolume, aws.ToString(m.Ebs.VolumeId), s.region, id))
		}
	}
	s.undo.attach(undoWhat(s.region, kindInstance, id), vols...)
}

func encodeUserData(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// trackInstance records instance id, launched by the call whose intent
// carried token.
func (s *state) trackInstance(u *step.Undo, token, id string) error {
	return s.created(u, s.region, kindInstance, token, id, false, func(ctx context.Context, c EC2) error {
		return s.remover().instance(ctx, c, id, s.build)
	})
}

func instanceProfile(p string) *types.IamInstanceProfileSpecification {
	if len(p) > 4 && p[:4] == "arn:" {
		return &types.IamInstanceProfileSpecification{Arn: aws.String(p)}
	}
	return &types.IamInstanceProfileSpecification{Name: aws.String(p)}
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// stepProvision connects over SSH, verifying the host key kiln installed,
// and hands the connection to the provisioners.
func stepProvision(ctx context.Context, s *state, _ *step.Undo) error {
	id := aws.ToString(s.instance.InstanceId)
	data := s.legacyData(s.region)
	data["ID"] = id
	data["InstanceID"] = id
	if !s.cfg.Comm.Enabled() {
		s.say(`communicator = "none": no provisioning on instance %s`, id)
		return nil
	}
	host, err := s.sshHost()
	if err != nil {
		return err
	}
	opts := ssh.ConnectOptions{Host: host, Port: 22, HostKey: s.hostKey.PublicKey(), Events: s.events}
	if s.login != nil {
		opts.Signer = s.login
		data["SSHPublicKey"] = authorizedKey(s.login.PublicKey())
	}
	comm, err := ssh.Connect(ctx, &s.cfg.Comm, opts)
	if err != nil {
		return fmt.Errorf("connect to instance %s: %w", id, err)
	}
	defer comm.Close()
	maps.Copy(data, comm.BuildData())
	if err := s.hook.Provision(ctx, comm, data); err != nil {
		return err
	}
	if s.cfg.Comm.ClearAuthorizedKeys {
		if err := comm.ClearAuthorizedKeys(ctx); err != nil {
			return fmt.Errorf("clear authorized keys on instance %s: %w", id, err)
		}
	}
	return nil
}

// sshHost picks the address to connect to from ssh_host or ssh_interface.
func (s *state) sshHost() (string, error) {
	if s.cfg.Comm.Host != "" {
		return s.cfg.Comm.Host, nil
	}
	in := s.instance
	var host string
	switch s.cfg.SSHInterface {
	case "public_ip":
		host = aws.ToString(in.PublicIpAddress)
	case "private_ip":
		host = aws.ToString(in.PrivateIpAddress)
	case "public_dns":
		host = aws.ToString(in.PublicDnsName)
	case "private_dns":
		host = aws.ToString(in.PrivateDnsName)
	default:
		host = aws.ToString(in.PublicIpAddress)
		if host == "" {
			host = aws.ToString(in.PrivateIpAddress)
		}
	}
	if host == "" {
		iface := s.cfg.SSHInterface
		if iface == "" {
			iface = "public or private IP"
		}
		return "", fmt.Errorf("instance %s has no %s to connect to", aws.ToString(in.InstanceId), iface)
	}
	return host, nil
}

// stepStop stops the instance so that its volumes are consistent, and waits.
func stepStop(ctx context.Context, s *state, _ *step.Undo) error {
	if s.cfg.SkipCreateAMI {
		return nil
	}
	id := aws.ToString(s.instance.InstanceId)
	if !s.cfg.DisableStopInstance {
		if _, err := s.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}}); err != nil {
			return fmt.Errorf("stop instance %s: %w", id, err)
		}
	}
	return s.waiter(s.waits.instance).Wait(ctx, "instance "+id, "stopped", func(ctx context.Context) (string, bool, error) {
		out, err := s.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
		if err != nil {
			return "", false, err
		}
		in := firstInstance(out)
		if in == nil {
			return "not visible", false, nil
		}
		st := in.State.Name
		if st == types.InstanceStateNameTerminated || st == types.InstanceStateNameShuttingDown {
			return "", false, fmt.Errorf("instance %s is %s, so no image can be made of it (shutdown_behavior = %q?)", id, st, s.cfg.ShutdownBehavior)
		}
		return string(st), st == types.InstanceStateNameStopped, nil
	})
}

// firstInstance returns the first instance of a DescribeInstances answer.
func firstInstance(out *ec2.DescribeInstancesOutput) *types.Instance {
	for _, r := range out.Reservations {
		if len(r.Instances) > 0 {
			return &r.Instances[0]
		}
	}
	return nil
}
