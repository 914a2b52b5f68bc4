// Package awsutil holds the AWS mechanics shared by kiln's AWS components
// (the amazon-ebs builder and its image-family catalog, the amazon-ami and
// amazon-parameterstore data sources) and the façade's AWS entry points
// (kiln.Clean, kiln.OpenCatalog): the
// access options as Packer spells them and the aws.Config they load into, one
// adaptive retryer per process and region so that parallel builds slow down
// together when throttled, waiters that poll with a low ceiling and say what
// they were waiting for when they give up, the tags that mark temporary
// resources, and the local journal of temporary resources (each create call's
// intent, its answer, each removal) that `kiln clean` reads after a process
// was killed.
//
// It is plumbing: it imports the AWS SDK and kiln's event package, and never
// a builder.
package awsutil
