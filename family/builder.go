package family

import (
	"context"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
)

// Builder is what a builder.Builder implements to make images of a family;
// the build engine finds it by type assertion. The builder is decoded once,
// with family.version unknown. The engine asks it for the name of each
// candidate version (ImageName) and gives Run the chosen image's identity
// and lineage tags in builder.Env.Image: Run names the image Image.Name and
// tags it (and its snapshots) with Image.Tags.
type Builder interface {
	builder.Builder
	// FamilyCatalog returns the catalog the images of family go to.
	FamilyCatalog(ctx context.Context, family string) (Catalog, error)
	// FamilySource resolves the source image and returns what of the
	// builder's configuration decides the image's content (the
	// "source-config" record of the digest) and the source image's ID.
	FamilySource(ctx context.Context) (config []byte, sourceImage string, err error)
	// ImageName returns the name the image of family's version would
	// have: the builder's name attribute evaluated with family.version set
	// (see Names), or DefaultName when the template leaves it unset.
	ImageName(family, version string) (string, error)
	// FamilyArtifact returns the artifact for an existing image of the
	// catalog, as Run would have returned it.
	FamilyArtifact(img Image) artifact.Artifact
}

// Tester is the optional ability of a Builder to run a family's test
// block: a template with one needs a builder that has it.
type Tester interface {
	// TestImage boots a fresh machine from img, calls hook with a
	// communicator to it, and removes the machine whatever happens. env's
	// Image is nil: the test makes no image.
	TestImage(ctx context.Context, env *builder.Env, img Image, hook builder.Hook) error
}

// PlaceholderVersion stands for the version where a builder needs one
// before the version is chosen (such as the output root a local catalog
// is derived from).
const PlaceholderVersion = "0.0.0"
