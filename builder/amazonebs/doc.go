// Package amazonebs is kiln's amazon-ebs builder: from a source AMI it boots
// a temporary EC2 instance, hands it to the provisioners over SSH with a host
// key it generated and verifies, stops it, makes an AMI of it, copies, shares
// and tags the AMI, and removes every temporary resource whatever happens.
//
// It reads Packer's amazon-ebs options unchanged (source "amazon-ebs"). Every
// temporary resource is tagged at creation (kiln:build-id, kiln:temporary,
// kiln:expires-at) and recorded in a local journal: the intent (the name or
// client token it will carry) before the create call, the ID once EC2
// answers, before it is used; its undo is registered at once. Clean removes
// what a killed process left, looking up by name, token or tag what a call
// whose answer never came made. Removal re-issues what EC2 did not do (a
// terminate overtaken by a late stop) instead of waiting for a state that
// will not come.
//
// Options: each option kiln accepts reaches the EC2 call it belongs to:
// the instance options go to RunInstances, or with spot_price to the
// temporary launch template and the EC2 Fleet (spot_tags tag the spot
// request, fleet_tags the fleet); ena_support and sriov_support to
// ModifyInstanceAttribute on the stopped instance, as in Packer;
// ami_product_codes to ModifyImageAttribute; deregistration_protection to
// EnableImageDeregistrationProtection, last, once the image is kept;
// snapshot_copy_duration_minutes to CopyImage. The block forms (tag,
// run_tag, run_volume_tag, snapshot_tag, spot_tag, fleet_tag, and filter
// inside subnet_filter, vpc_filter and security_group_filter) are merged
// into their maps when the source is decoded, a block winning over the map
// entry with its key. ami_virtualization_type cannot be chosen for an image
// made of an instance: kiln checks that the source AMI has it. Accepted
// with a warning, as in Packer: tenancy and enable_t2_unlimited
// (deprecated spellings of placement.tenancy and enable_unlimited_credits),
// and spot_price_auto_product (deprecated, no effect in Packer either).
// Rejected with the reason: block_duration_minutes (AWS no longer offers
// spot blocks, and the EC2 Fleet kiln requests spot through has no
// duration). Where Packer leaves the
// spot allocation strategy to AWS (lowest-price), kiln asks for
// price-capacity-optimized unless spot_allocation_strategy is set.
//
// Still rejected, as unknown options with their location: fast_launch
// (Windows fast launch: kiln builds Linux images over SSH);
// windows_password_timeout and the WinRM communicator (no Windows
// support); ssh_interface = "session_manager", pause_before_ssm and
// session_manager_port (need AWS's session-manager-plugin binary, which
// kiln does not drive); temporary_iam_instance_profile_policy_document and
// skip_profile_validation (kiln creates no IAM resources; it does not
// validate iam_instance_profile either); vault_aws_engine, mfa_code,
// shared_credentials_file, skip_metadata_api_check,
// skip_credential_validation, decode_authorization_messages,
// insecure_skip_tls_verify and assume_role's policy, policy_arns, tags and
// transitive_tag_keys (credential sources and checks internal/awsutil does
// not offer yet).
//
// Tests: unit tests substitute the EC2 interface; integration tests run
// against moto_server on a loopback port, with a harness that plays the
// instance's boot (it reads the user data kiln sent and starts OpenSSH sshd
// with the host key and login key found there). TestAcceptance builds a real
// AMI and runs only with KILN_ACC=1 (see acc_test.go); it is never run in CI.
//
// It sits in kiln's components layer, on aws-sdk-go-v2, internal/awsutil,
// package step and communicator/ssh. It never imports a provisioner:
// provisioning reaches it as the builder.Hook.
package amazonebs
