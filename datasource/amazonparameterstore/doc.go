// Package amazonparameterstore is the amazon-parameterstore data source
// (data "amazon-parameterstore" "NAME"), read as Packer reads it: name,
// with_decryption and the AWS access options of the amazon-ebs builder. It
// reads one SSM parameter, such as the public
// /aws/service/ami-amazon-linux-latest/... parameters that name the newest
// Amazon Linux image, and returns its value, version and arn.
//
// As in Packer, its output is not sensitive by itself: a template that
// reads a secret wraps it in a sensitive local (local "x" { sensitive =
// true }), and kiln then redacts the value everywhere. Unlike Packer, the
// value of a SecureString read with with_decryption is redacted even
// without one. It sits with the other data
// sources, above the datasource contract; AWS access and retries come from
// internal/awsutil.
//
// It is tested against moto_server in package datasource's tests, together
// with amazon-ami and amazon-ebs builds, so that one test binary links
// the AWS SDK.
package amazonparameterstore
