// Package awscatalog keeps image families on AWS: each version is an AMI
// (one per region) tagged with kiln's lineage tags (kiln:family,
// kiln:version, ...), and each channel is an SSM parameter
// /kiln/FAMILY/CHANNEL of type String and data type aws:ec2:image in every
// region, whose value is the version's AMI ID there, so that a launch
// template can resolve it directly (resolve:ssm:/kiln/web/stable). The
// parameter's history is the channel's history.
//
// It implements family.Catalog for the amazon-ebs builder and kiln images.
package awscatalog
