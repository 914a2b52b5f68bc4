package artifact

import "context"

// Artifact is the result of a build.
type Artifact interface {
	// BuilderType is the HCL type label of the component that made it
	// ("amazon-ebs", "qemu", "checksum").
	BuilderType() string
	// ID identifies the artifact, in Packer's format: for AMIs
	// "us-east-1:ami-0abc,eu-west-1:ami-0def".
	ID() string
	// Files lists the local files that make up the artifact, if any.
	Files() []string
	// String describes the artifact for a person.
	String() string
}

// Destroyer is implemented by artifacts that can remove themselves.
type Destroyer interface {
	Destroy(ctx context.Context) error
}

// Stater is implemented by artifacts that expose extra typed data by key
// (for example "source_image" or "region_images").
type Stater interface {
	State(key string) any
}
