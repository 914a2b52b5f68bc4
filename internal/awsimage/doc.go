// Package awsimage finds an AMI the way Packer's AWS components do: by ID
// and/or an AMI filter block (filters, owners, most_recent,
// include_deprecated). The amazon-ebs builder's source_ami_filter and the
// amazon-ami data source both use it, so they select and report the same
// way.
//
// It is plumbing: it imports the EC2 client's types and declares the one
// EC2 call it makes, so callers pass their own client (or a fake).
package awsimage
