package amazonebs

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
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
	InstanceType           string                 `hcl:"instance_type,optional"`
	SpotPrice              string                 `hcl:"spot_price,optional"`
	SpotInstanceTypes      []string               `hcl:"spot_instance_types,optional"`
	AvailabilityZone       string                 `hcl:"availability_zone,optional"`
	SubnetID               string                 `hcl:"subnet_id,optional"`
	SubnetFilter           *SubnetFilter          `hcl:"subnet_filter,block"`
	VpcID                  string                 `hcl:"vpc_id,optional"`
	VpcFilter              *Filter                `hcl:"vpc_filter,block"`
	SecurityGroupID        string                 `hcl:"security_group_id,optional"`
	SecurityGroupIDs       []string               `hcl:"security_group_ids,optional"`
	SecurityGroupFilter    *Filter                `hcl:"security_group_filter,block"`
	TempSGSourceCIDRs      []string               `hcl:"temporary_security_group_source_cidrs,optional"`
	TempSGSourcePublicIP   bool                   `hcl:"temporary_security_group_source_public_ip,optional"`
	AssociatePublicIP      *bool                  `hcl:"associate_public_ip_address,optional"`
	SSHInterface           string                 `hcl:"ssh_interface,optional"`
	IAMInstanceProfile     string                 `hcl:"iam_instance_profile,optional"`
	UserData               string                 `hcl:"user_data,optional"`
	UserDataFile           string                 `hcl:"user_data_file,optional"`
	Metadata               *MetadataOptions       `hcl:"metadata_options,block"`
	ShutdownBehavior       string                 `hcl:"shutdown_behavior,optional"`
	LaunchBlockDevices     []BlockDevice          `hcl:"launch_block_device_mappings,block"`
	RunTags                map[string]string      `hcl:"run_tags,optional"`
	RunTag                 []KeyValue             `hcl:"run_tag,block"`
	RunVolumeTags          map[string]string      `hcl:"run_volume_tags,optional"`
	RunVolumeTag           []KeyValue             `hcl:"run_volume_tag,block"`
	SkipAMIRunTags         bool                   `hcl:"skip_ami_run_tags,optional"`
	TempKeyPairType        string                 `hcl:"temporary_key_pair_type,optional"`
	TempKeyPairName        string                 `hcl:"temporary_key_pair_name,optional"`
	KeyPairName            string                 `hcl:"ssh_keypair_name,optional"`
	DisableStopInstance    bool                   `hcl:"disable_stop_instance,optional"`
	TemporaryResourcesTTL  time.Duration          `hcl:"temporary_resources_ttl,optional"`
	EBSOptimized           bool                   `hcl:"ebs_optimized,optional"`
	Tenancy                string                 `hcl:"tenancy,optional"` // deprecated: placement.tenancy
	Placement              *Placement             `hcl:"placement,block"`
	NoEphemeral            bool                   `hcl:"no_ephemeral,optional"`
	EnableNitroEnclave     bool                   `hcl:"enable_nitro_enclave,optional"`
	EnableT2Unlimited      bool                   `hcl:"enable_t2_unlimited,optional"` // deprecated: enable_unlimited_credits
	EnableUnlimitedCredits bool                   `hcl:"enable_unlimited_credits,optional"`
	LicenseSpecifications  []LicenseSpecification `hcl:"license_specifications,block"`

	CapacityReservationPreference string `hcl:"capacity_reservation_preference,optional"`
	CapacityReservationID         string `hcl:"capacity_reservation_id,optional"`
	CapacityReservationGroupARN   string `hcl:"capacity_reservation_group_arn,optional"`

	// Spot.
	SpotTags               map[string]string `hcl:"spot_tags,optional"`
	SpotTag                []KeyValue        `hcl:"spot_tag,block"`
	SpotAllocationStrategy string            `hcl:"spot_allocation_strategy,optional"`
	SpotPriceAutoProduct   string            `hcl:"spot_price_auto_product,optional"` // deprecated, no effect (as in Packer)
	BlockDurationMinutes   int               `hcl:"block_duration_minutes,optional"`  // rejected: AWS no longer offers spot blocks
	FleetTags              map[string]string `hcl:"fleet_tags,optional"`
	FleetTag               []KeyValue        `hcl:"fleet_tag,block"`

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
	Tag                 []KeyValue        `hcl:"tag,block"`
	SnapshotTags        map[string]string `hcl:"snapshot_tags,optional"`
	SnapshotTag         []KeyValue        `hcl:"snapshot_tag,block"`
	IMDSSupport         string            `hcl:"imds_support,optional"`
	DeprecateAt         string            `hcl:"deprecate_at,optional"`
	ForceDeregister     bool              `hcl:"force_deregister,optional"`
	ForceDeleteSnapshot bool              `hcl:"force_delete_snapshot,optional"`
	SkipCreateAMI       bool              `hcl:"skip_create_ami,optional"`

	AMIVirtType                 string                    `hcl:"ami_virtualization_type,optional"`
	AMIProductCodes             []string                  `hcl:"ami_product_codes,optional"`
	ENASupport                  *bool                     `hcl:"ena_support,optional"`
	SriovSupport                bool                      `hcl:"sriov_support,optional"`
	DeregistrationProtection    *DeregistrationProtection `hcl:"deregistration_protection,block"`
	SnapshotCopyDurationMinutes int                       `hcl:"snapshot_copy_duration_minutes,optional"`
	SkipSaveBuildRegion         bool                      `hcl:"skip_save_build_region,optional"`
	SkipRegionValidation        bool                      `hcl:"skip_region_validation,optional"`
}

// KeyValue is one tag, run_tag, run_volume_tag, snapshot_tag, spot_tag or
// fleet_tag block: the block form of the matching map, merged into it.
// As in Packer, value may be left out (an empty tag value).
type KeyValue struct {
	Key   string `hcl:"key"`
	Value string `hcl:"value,optional"`
}

// NameValue is one filter block of a subnet_filter, vpc_filter or
// security_group_filter: the block form of an entry of its filters map.
type NameValue struct {
	Name  string `hcl:"name"`
	Value string `hcl:"value,optional"`
}

// Placement is the placement block. tenancy is "default", "dedicated" or
// "host".
type Placement struct {
	HostResourceGroupARN string `hcl:"host_resource_group_arn,optional"`
	HostID               string `hcl:"host_id,optional"`
	Tenancy              string `hcl:"tenancy,optional"`
}

// LicenseSpecification is one license_specifications block.
type LicenseSpecification struct {
	Request *LicenseConfigurationRequest `hcl:"license_configuration_request,block"`
}

// LicenseConfigurationRequest names a License Manager configuration.
type LicenseConfigurationRequest struct {
	ARN string `hcl:"license_configuration_arn,optional"`
}

// DeregistrationProtection is the deregistration_protection block.
type DeregistrationProtection struct {
	Enabled      bool `hcl:"enabled,optional"`
	WithCooldown bool `hcl:"with_cooldown,optional"`
}

// AMIFilter is the source_ami_filter block, read and applied as the
// amazon-ami data source reads and applies its body.
type AMIFilter = awsimage.Filter

// Filter is a vpc_filter or security_group_filter block. Its filter
// blocks are merged into Filters when the source is decoded.
type Filter struct {
	Filters map[string]string `hcl:"filters,optional"`
	Filter  []NameValue       `hcl:"filter,block"`
}

// SubnetFilter is the subnet_filter block.
type SubnetFilter struct {
	Filter   `hcl:",squash"`
	MostFree bool `hcl:"most_free,optional"`
	Random   bool `hcl:"random,optional"`
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
	diags = append(diags, c.validateRun(body)...)
	return append(diags, c.validateImage(body)...)
}

var tenancies = []string{"default", "dedicated", "host"}

// validateRun checks the instance options added for Packer's run
// configuration. It runs after merge.
func (c *Config) validateRun(body hcl.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	diag := func(sev hcl.DiagnosticSeverity, attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: sev, Summary: summary, Detail: detail, Subject: awsutil.AttrRange(body, attr)})
	}
	bad := func(attr, summary, detail string) { diag(hcl.DiagError, attr, summary, detail) }
	warn := func(attr, summary, detail string) { diag(hcl.DiagWarning, attr, summary, detail) }
	spot := c.SpotPrice != ""
	if c.Tenancy != "" {
		warn("tenancy", "Deprecated option", "tenancy is deprecated: use placement { tenancy = ... } instead.")
		if !oneOf(c.Tenancy, tenancies...) {
			bad("tenancy", "Invalid tenancy", fmt.Sprintf("tenancy must be one of %s, not %q.", strings.Join(tenancies, ", "), c.Tenancy))
		}
	}
	if p := c.Placement; p != nil {
		if c.Tenancy != "" && p.Tenancy != c.Tenancy {
			bad("tenancy", "Conflicting options", "Set tenancy or placement.tenancy, not both.")
		}
		if c.Tenancy == "" && !oneOf(p.Tenancy, append([]string{""}, tenancies...)...) {
			bad("placement", "Invalid tenancy", fmt.Sprintf("placement.tenancy must be one of %s, not %q.", strings.Join(tenancies, ", "), p.Tenancy))
		}
		if p.HostResourceGroupARN != "" && p.HostID != "" {
			bad("placement", "Conflicting options", "Set placement.host_resource_group_arn or placement.host_id, not both.")
		}
		if (p.HostResourceGroupARN != "" || p.HostID != "") && !oneOf(p.Tenancy, "", "host") {
			bad("placement", "Invalid tenancy", `A Dedicated Host (host_id or host_resource_group_arn) needs placement.tenancy = "host".`)
		}
	}
	if !oneOf(c.CapacityReservationPreference, "", "none", "open") {
		bad("capacity_reservation_preference", "Invalid capacity_reservation_preference", fmt.Sprintf(`capacity_reservation_preference must be "none" or "open", not %q.`, c.CapacityReservationPreference))
	}
	if n := countSet(c.CapacityReservationPreference, c.CapacityReservationID, c.CapacityReservationGroupARN); n > 1 {
		bad("capacity_reservation_preference", "Conflicting options", "capacity_reservation_preference, capacity_reservation_id and capacity_reservation_group_arn are mutually exclusive: set one.")
	}
	instanceTypes := c.SpotInstanceTypes
	if c.InstanceType != "" {
		instanceTypes = append([]string{c.InstanceType}, instanceTypes...)
	}
	if c.EnableT2Unlimited {
		warn("enable_t2_unlimited", "Deprecated option", "enable_t2_unlimited is deprecated: use enable_unlimited_credits.")
		if body != nil && awsutil.AttrRange(body, "enable_unlimited_credits") != nil {
			bad("enable_t2_unlimited", "Conflicting options", "Set enable_t2_unlimited or enable_unlimited_credits, not both.")
		}
		for _, t := range instanceTypes {
			if !strings.HasPrefix(t, "t2.") {
				bad("enable_t2_unlimited", "T2 Unlimited without a T2 type", fmt.Sprintf("enable_t2_unlimited needs a t2 instance type, not %q.", t))
			}
		}
		if spot {
			bad("enable_t2_unlimited", "Conflicting options", "T2 Unlimited cannot be used with spot instances (spot_price).")
		}
	}
	if c.EnableUnlimitedCredits {
		for _, t := range instanceTypes {
			if !strings.HasPrefix(t, "t") || !strings.Contains(t, ".") {
				bad("enable_unlimited_credits", "Unlimited credits without a burstable type", fmt.Sprintf("enable_unlimited_credits needs a burstable (T class) instance type, not %q.", t))
			}
			if spot && strings.HasPrefix(t, "t2.") {
				bad("enable_unlimited_credits", "Conflicting options", "Unlimited credits cannot be used with spot instances of a t2 type.")
			}
		}
	}
	if c.EnableNitroEnclave && spot {
		bad("enable_nitro_enclave", "Conflicting options", "enable_nitro_enclave is not supported for spot instances (spot_price).")
	}
	for _, l := range c.LicenseSpecifications {
		if l.Request == nil || l.Request.ARN == "" {
			bad("license_specifications", "Missing license_configuration_arn", "Every license_specifications block needs a license_configuration_request block with license_configuration_arn.")
		}
	}
	if (c.ENASupport != nil && *c.ENASupport || c.SriovSupport) && spot {
		bad("spot_price", "Conflicting options", "Spot instances cannot be modified, which ena_support and sriov_support need: use a source AMI that already has ENA or SR-IOV enabled.")
	}
	if !spot {
		for _, attr := range []string{"spot_tags", "spot_tag", "spot_allocation_strategy", "block_duration_minutes", "fleet_tags", "fleet_tag"} {
			if body != nil && awsutil.AttrRange(body, attr) != nil {
				bad(attr, "Spot option without spot_price", attr+" applies to spot instances only: set spot_price too.")
			}
		}
	}
	if s := c.SpotAllocationStrategy; s != "" && !slices.Contains(ec2types.SpotAllocationStrategy("").Values(), ec2types.SpotAllocationStrategy(s)) {
		bad("spot_allocation_strategy", "Invalid spot_allocation_strategy", fmt.Sprintf("spot_allocation_strategy must be one of %v, not %q.", ec2types.SpotAllocationStrategy("").Values(), s))
	}
	if c.SpotPriceAutoProduct != "" {
		warn("spot_price_auto_product", "Deprecated option", "spot_price_auto_product is deprecated and has no effect: spot prices need no product description.")
	}
	if c.BlockDurationMinutes != 0 {
		// Accepting it would be accepting and ignoring it.
		bad("block_duration_minutes", "Unsupported option", "block_duration_minutes asks for a spot block (a fixed-duration spot instance), which AWS no longer offers; kiln requests spot instances through an EC2 Fleet, which has no duration. Remove it: the instance runs until the build ends.")
	}
	return diags
}

// validateImage checks the image options added for Packer's AMI
// configuration.
func (c *Config) validateImage(body hcl.Body) hcl.Diagnostics {
	var diags hcl.Diagnostics
	bad := func(attr, summary, detail string) {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: detail, Subject: awsutil.AttrRange(body, attr)})
	}
	if !oneOf(c.AMIVirtType, "", "paravirtual", "hvm") {
		bad("ami_virtualization_type", "Invalid ami_virtualization_type", fmt.Sprintf(`ami_virtualization_type must be "paravirtual" or "hvm", not %q.`, c.AMIVirtType))
	}
	if d := c.SnapshotCopyDurationMinutes; d != 0 && (d < 15 || d%15 != 0) {
		bad("snapshot_copy_duration_minutes", "Invalid snapshot_copy_duration_minutes", fmt.Sprintf("snapshot_copy_duration_minutes must be a multiple of 15, at least 15, not %d.", d))
	}
	if c.SkipSaveBuildRegion && !c.SkipCreateAMI && !slices.ContainsFunc(c.AMIRegions, func(r string) bool { return r != c.Region }) {
		bad("skip_save_build_region", "Nothing to keep", "skip_save_build_region keeps only the copies in ami_regions, and ami_regions names no other region than the build region.")
	}
	return diags
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// merge folds the block forms (tag, run_tag, filter, ...) into their maps,
// a block winning over the map entry with its key as in Packer, and the
// deprecated spellings (tenancy, enable_t2_unlimited) into the current
// ones. New calls it once, after decoding.
func (c *Config) merge() {
	c.Tags = mergeKV(c.Tags, c.Tag)
	c.SnapshotTags = mergeKV(c.SnapshotTags, c.SnapshotTag)
	c.RunTags = mergeKV(c.RunTags, c.RunTag)
	c.RunVolumeTags = mergeKV(c.RunVolumeTags, c.RunVolumeTag)
	c.SpotTags = mergeKV(c.SpotTags, c.SpotTag)
	c.FleetTags = mergeKV(c.FleetTags, c.FleetTag)
	for _, f := range []*Filter{c.VpcFilter, c.SecurityGroupFilter} {
		f.merge()
	}
	if c.SubnetFilter != nil {
		c.SubnetFilter.Filter.merge()
	}
	if c.Tenancy != "" {
		if c.Placement == nil {
			c.Placement = &Placement{}
		}
		if c.Placement.Tenancy == "" {
			c.Placement.Tenancy = c.Tenancy
		}
	}
	if c.EnableT2Unlimited {
		c.EnableUnlimitedCredits = true
	}
}

func (f *Filter) merge() {
	if f == nil || len(f.Filter) == 0 {
		return
	}
	if f.Filters == nil {
		f.Filters = map[string]string{}
	}
	for _, nv := range f.Filter {
		f.Filters[nv.Name] = nv.Value
	}
}

func mergeKV(m map[string]string, kvs []KeyValue) map[string]string {
	if len(kvs) == 0 {
		return m
	}
	if m == nil {
		m = map[string]string{}
	}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

// attrSet reports whether body sets the attribute or block name (also to a
// value not known yet).
func attrSet(body hcl.Body, name string) bool {
	return body == nil || awsutil.AttrRange(body, name) != nil
}
