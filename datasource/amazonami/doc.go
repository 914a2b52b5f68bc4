// Package amazonami is the amazon-ami data source (data "amazon-ami"
// "NAME"), read as Packer reads it: filters, owners, most_recent and
// include_deprecated, plus the AWS access options of the amazon-ebs builder
// (region, profile, assume_role, custom_endpoint_ec2, ...). It finds exactly
// one image, with the lookup amazon-ebs's source_ami_filter uses
// (internal/awsimage), and returns its id, name, creation_date, owner,
// owner_name, root_device_type and tags.
//
// It sits with the other data sources, above the datasource contract; AWS
// access and retries come from internal/awsutil.
//
// It is tested against moto_server in package datasource's tests, together
// with amazon-parameterstore and amazon-ebs builds, so that one test binary links
// the AWS SDK.
package amazonami
