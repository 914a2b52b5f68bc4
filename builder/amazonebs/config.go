package amazonebs

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/awsimage"
	"github.com/kilnhq/kiln/internal/awsutil"
)

// Config holds the options of a source "amazon-ebs" block, spelled as Packer
// spells them.
type Config struct {
	awsutil.AccessConfig `hcl:",squash"`
	Comm                 ssh.Config `hcl:",squash"`

	// Source image.
	SourceAMI       string     `hcl:"source_ami,optional"`
	SourceAMIFilter *AMIFilter `hcl:"source_ami_filter,block"`

	// The temporary instance.
	InstanceType          string            `hcl:"instance_type,optional"`
	SpotPrice             string            `hcl:"spot_price,optional"`
	SpotInstanceTypes     []string          `hcl:"spot_instance_types,optional"`
	AvailabilityZone      string            `hcl:"availability_zone,optional"`
	SubnetID              string            `hcl:"subnet_id,optional"`
	SubnetFilter          *SubnetFilter     `hcl:"subnet_filter,block"`
	VpcID                 string            `hcl:"vpc_id,optional"`
	VpcFilter             *Filter           `hcl:"vpc_filter,block"`
	SecurityGroupID       string            `hcl:"security_group_id,optional"`
	SecurityGroupIDs      []string          `hcl:"security_group_ids,optional"`
	SecurityGroupFilter   *Filter           `hcl:"security_group_filter,block"`
	TempSGSourceCIDRs     []string          `hcl:"temporary_security_group_source_cidrs,optional"`
	TempSGSourcePublicIP  bool              `hcl:"temporary_security_group_source_public_ip,optional"`
	AssociatePublicIP     *bool             `hcl:"associate_public_ip_address,optional"`
	SSHInterface          string            `hcl:"ssh_interface,optional"`
	IAMInstanceProfile    string            `hcl:"iam_instance_profile,optional"`
	UserData              string            `hcl:"user_data,optional"`
	UserDataFile          string            `hcl:"user_data_file,optional"`
	Metadata              *MetadataOptions  `hcl:"metadata_options,block"`
	ShutdownBehavior      string            `hcl:"shutdown_behavior,optional"`
	LaunchBlockDevices    []BlockDevice     `hcl:"launch_block_device_mappings,block"`
	RunTags               map[string]string `hcl:"run_tags,optional"`
	RunVolumeTags         map[string]string `hcl:"run_volume_tags,optional"`
	TempKeyPairType       string            `hcl:"temporary_key_pair_type,optional"`
	TempKeyPairName       string            `hcl:"temporary_key_pair_name,optional"`
	KeyPairName           string            `hcl:"ssh_keypair_name,optional"`
	DisableStopInstance   bool              `hcl:"disable_stop_instance,optional"`
	TemporaryResourcesTTL time.Duration     `hcl:"temporary_resources_ttl,optional"`

	// The image.
	AMIName             string            `hcl:"ami_name,optional"`
	AMIDescription      string            `hcl:"ami_description,optional"`
	AMIRegions          []string          `hcl:"ami_regions,optional"`
	AMIUsers            []string          `hcl:"ami_users,optional"`
	AMIGroups           []string          `hcl:"ami_groups,optional"`
	AMIOrgARNs          []string          `hcl:"ami_org_arns,optional"`
	AMIOUARNs           []string          `hcl:"ami_ou_arns,optional"`
	SnapshotUsers       []string          `hcl:"snapshot_users,optional"`
	SnapshotGroups      []string          `hcl:"snapshot_groups,optional"`
	AMIBlockDevices     []BlockDevice     `hcl:"ami_block_device_mappings,block"`
	EncryptBoot         *bool             `hcl:"encrypt_boot,optional"`
	KMSKeyID            string            `hcl:"kms_key_id,optional"`
	RegionKMSKeyIDs     map[string]string `hcl:"region_kms_key_ids,optional"`
	Tags                map[string]string `hcl:"tags,optional"`
	SnapshotTags        map[string]string `hcl:"snapshot_tags,optional"`
	IMDSSupport         string            `hcl:"imds_support,optional"`
	DeprecateAt         string            `hcl:"deprecate_at,optional"`
	ForceDeregister     bool              `hcl:"force_deregister,optional"`
	ForceDeleteSnapshot bool              `hcl:"force_delete_snapshot,optional"`
	SkipCreateAMI       bool              `hcl:"skip_create_ami,optional"`
}

// AMIFilter is the source_ami_filter block, read and applied as the
// amazon-ami data source reads and applies its body.
type AMIFilter = awsimage.Filter

// Filter is a vpc_filter or security_group_filter block.
type Filter struct {
	Filters map[string]string `hcl:"filters,optional"`
}

// SubnetFilter is the subnet_filter block.
type SubnetFilter struct {
	Filters  map[string]string `hcl:"filters,optional"`
	MostFree bool              `hcl:"most_free,optional"`
	Random   bool              `hcl:"random,optional"`
}

// MetadataOptions is the metadata_options block. kiln requires IMDSv2
// (http_tokens = "required") unless told otherwise.
type MetadataOptions struct {
	HTTPEndpoint            string `hcl:"http_endpoint,optional"`
	HTTPTokens              string `hcl:"http_tokens,optional"`
	HTTPPutResponseHopLimit int    `hcl:"http_put_response_hop_limit,optional"`
	InstanceMetadataTags    string `hcl:"instance_metadata_tags,optional"`
}

// BlockDevice is one launch_block_device_mappings or
// ami_block_device_mappings block.
type BlockDevice struct {
	DeviceName          string `hcl:"device_name,optional"`
	VolumeType          string `hcl:"volume_type,optional"`
	VolumeSize          int    `hcl:"volume_size,optional"`
	IOPS                int    `hcl:"iops,optional"`
	Throughput          int    `hcl:"throughput,optional"`
	DeleteOnTermination *bool  `hcl:"delete_on_termination,optional"`
	Encrypted           *bool  `hcl:"encrypted,optional"`
	KMSKeyID            string `hcl:"kms_key_id,optional"`
	SnapshotID          string `hcl:"snapshot_id,optional"`
	VirtualName         string `hcl:"virtual_name,optional"`
	NoDevice            bool   `hcl:"no_device,optional"`
}

// Defaults.
const (
	// DefaultTemporaryResourcesTTL is how long after creation a temporary
	// resource counts as expired for Clean (kiln:expires-at).
	DefaultTemporaryResourcesTTL = 6 * time.Hour
	defaultKeyPairType           = "ed25519"
)

var sshInterfaces = []string{"public_ip", "private_ip", "public_dns", "private_dns"}

// validate checks every option that needs no I/O. Values not known yet
// (zero) pass. engineNamed: the build engine names the image (a build with
// a family block), so ami_name may be left out.
func (c *Config) validate(body hcl.Body, engineNamed bool) hcl.Diagnostics {
	diags := c.AccessConfig.Validate(body)
	diags = append(diags, c.Comm.Validate(body)...)
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: awsutil.AttrRange(body, attr)})
	}
	missing := func(detail string) {
		var where *hcl.Range
		if body != nil {
			where = body.MissingItemRange().Ptr()
		}
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Missing required argument", Detail: detail, Subject: where})
	}
	if !attrSet(body, "source_ami") && !attrSet(body, "source_ami_filter") {
		missing("amazon-ebs needs source_ami or a source_ami_filter block.")
	}
	if !attrSet(body, "instance_type") && !attrSet(body, "spot_instance_types") {
		missing("amazon-ebs needs instance_type (or spot_instance_types with spot_price).")
	}
	if !c.SkipCreateAMI && !engineNamed && !attrSet(body, "ami_name") && c.AMIName == "" {
		missing("amazon-ebs needs ami_name, unless skip_create_ami = true.")
	}
	if n := c.AMIName; n != "" && !strings.Contains(n, "{{") && (len(n) < 3 || len(n) > 128) {
		bad("ami_name", "Invalid AMI name", fmt.Sprintf("ami_name must be 3 to 128 characters long, not %d.", len(n)))
	}
	if c.SSHInterface != "" && !slices.Contains(sshInterfaces, c.SSHInterface) {
		bad("ssh_interface", "Invalid ssh_interface", fmt.Sprintf("ssh_interface must be one of %s, not %q.", strings.Join(sshInterfaces, ", "), c.SSHInterface))
	}
	switch c.ShutdownBehavior {
	case "", "stop", "terminate":
	default:
		bad("shutdown_behavior", "Invalid shutdown_behavior", fmt.Sprintf(`shutdown_behavior must be "stop" or "terminate", not %q.`, c.ShutdownBehavior))
	}
	switch c.TempKeyPairType {
	case "", "ed25519", "rsa":
	default:
		bad("temporary_key_pair_type", "Invalid temporary_key_pair_type", fmt.Sprintf(`temporary_key_pair_type must be "ed25519" or "rsa", not %q.`, c.TempKeyPairType))
	}
	switch c.IMDSSupport {
	case "", "v2.0":
	default:
		bad("imds_support", "Invalid imds_support", fmt.Sprintf(`imds_support must be "v2.0", not %q.`, c.IMDSSupport))
	}
	if m := c.Metadata; m != nil {
		if !oneOf(m.HTTPEndpoint, "", "enabled", "disabled") {
			bad("metadata_options", "Invalid metadata_options", `http_endpoint must be "enabled" or "disabled".`)
		}
		if !oneOf(m.HTTPTokens, "", "required", "optional") {
			bad("metadata_options", "Invalid metadata_options", `http_tokens must be "required" or "optional".`)
		}
		if !oneOf(m.InstanceMetadataTags, "", "enabled", "disabled") {
			bad("metadata_options", "Invalid metadata_options", `instance_metadata_tags must be "enabled" or "disabled".`)
		}
		if m.HTTPPutResponseHopLimit < 0 || m.HTTPPutResponseHopLimit > 64 {
			bad("metadata_options", "Invalid metadata_options", "http_put_response_hop_limit must be between 1 and 64.")
		}
	}
	if c.UserData != "" && c.UserDataFile != "" {
		bad("user_data_file", "Conflicting options", "Set user_data or user_data_file, not both.")
	}
	if c.KeyPairName != "" && c.Comm.PrivateKeyFile == "" && !c.Comm.AgentAuth {
		bad("ssh_keypair_name", "Missing private key", "ssh_keypair_name needs ssh_private_key_file (or ssh_agent_auth) to log in with that key pair.")
	}
	if c.KeyPairName != "" && c.TempKeyPairName != "" {
		bad("temporary_key_pair_name", "Conflicting options", "temporary_key_pair_name has no effect with ssh_keypair_name.")
	}
	if (c.VpcID != "" || c.VpcFilter != nil) && c.SubnetID == "" && c.SubnetFilter == nil {
		bad("vpc_id", "Missing subnet", "With vpc_id or vpc_filter, set subnet_id or subnet_filter too: the instance must be launched into a subnet of that VPC.")
	}
	if c.SecurityGroupID != "" && len(c.SecurityGroupIDs) > 0 {
		bad("security_group_ids", "Conflicting options", "Set security_group_id or security_group_ids, not both.")
	}
	for _, cidr := range c.TempSGSourceCIDRs {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			bad("temporary_security_group_source_cidrs", "Invalid CIDR", fmt.Sprintf("%q is not a CIDR block such as 203.0.113.7/32.", cidr))
		}
	}
	if c.TempSGSourcePublicIP && len(c.TempSGSourceCIDRs) > 0 {
		bad("temporary_security_group_source_public_ip", "Conflicting options", "Set temporary_security_group_source_cidrs or temporary_security_group_source_public_ip, not both.")
	}
	if len(c.SpotInstanceTypes) > 0 && c.SpotPrice == "" {
		bad("spot_instance_types", "Missing spot_price", `spot_instance_types needs spot_price ("auto" or a maximum hourly price).`)
	}
	if c.DeprecateAt != "" && !strings.Contains(c.DeprecateAt, "{{") {
		if _, err := time.Parse(time.RFC3339, c.DeprecateAt); err != nil {
			bad("deprecate_at", "Invalid deprecate_at", fmt.Sprintf("deprecate_at must be an RFC 3339 time such as 2030-01-02T15:04:05Z: %v.", err))
		}
	}
	if c.KMSKeyID != "" && (c.EncryptBoot == nil || !*c.EncryptBoot) {
		bad("kms_key_id", "kms_key_id without encrypt_boot", "kms_key_id only applies with encrypt_boot = true.")
	}
	if c.EncryptBoot != nil && !*c.EncryptBoot && len(c.RegionKMSKeyIDs) > 0 {
		bad("region_kms_key_ids", "Conflicting options", "region_kms_key_ids encrypts the copies; it cannot be combined with encrypt_boot = false.")
	}
	for r := range c.RegionKMSKeyIDs {
		if r != c.Region && !slices.Contains(c.AMIRegions, r) {
			bad("region_kms_key_ids", "Unused region key", fmt.Sprintf("region_kms_key_ids has a key for %s, which is neither region nor in ami_regions.", r))
		}
	}
	if c.TemporaryResourcesTTL < 0 {
		bad("temporary_resources_ttl", "Invalid duration", "temporary_resources_ttl must not be negative.")
	}
	for _, bd := range append(slices.Clone(c.LaunchBlockDevices), c.AMIBlockDevices...) {
		if bd.DeviceName == "" {
			bad("launch_block_device_mappings", "Missing device_name", "Every block device mapping needs device_name.")
		}
	}
	return diags
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

// attrSet reports whether body sets the attribute or block name (also to a
// value not known yet).
func attrSet(body hcl.Body, name string) bool {
	return body == nil || awsutil.AttrRange(body, name) != nil
}
