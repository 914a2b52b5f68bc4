package family

import (
	"context"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
)

// Builder is what a builder.Builder implements to make images of a family;
// the build engine finds it by type assertion. The builder is decoded with
// the template's family.name and family.version set, so that its image
// name defaults to DefaultName (or, when given, contains the version).
type Builder interface {
	builder.Builder
	// FamilyCatalog returns the catalog the builder's images go to.
	FamilyCatalog(ctx context.Context) (Catalog, error)
	// FamilySource resolves the source image and returns what of the
	// builder's configuration decides the image's content (the
	// "source-config" record of the digest) and the source image's ID.
	FamilySource(ctx context.Context) (config []byte, sourceImage string, err error)
	// ImageName returns the name the image will have.
	ImageName() string
	// SetLineage makes Run tag the image (and its snapshots) with tags.
	SetLineage(tags map[string]string)
	// FamilyArtifact returns the artifact for an existing image of the
	// catalog, as Run would have returned it.
	FamilyArtifact(img Image) artifact.Artifact
}

// Tester is the optional ability of a Builder to run a family's test
// block: a template with one needs a builder that has it.
type Tester interface {
	// TestImage boots a fresh machine from img, calls hook with a
	// communicator to it, and removes the machine whatever happens.
	TestImage(ctx context.Context, env *builder.Env, img Image, hook builder.Hook) error
}

// FromEvalContext reads the family variable (family.name, family.version)
// the build engine puts in the evaluation context of a source in a build
// with a family block. ok is false without one; version is "" while it is
// unknown (when the template is validated).
func FromEvalContext(ectx *hcl.EvalContext) (name, version string, ok bool) {
	if ectx == nil {
		return "", "", false
	}
	v, found := ectx.Variables["family"]
	if !found || !v.IsKnown() || v.IsNull() || !v.Type().IsObjectType() || !v.Type().HasAttribute("name") || !v.Type().HasAttribute("version") {
		return "", "", false
	}
	n, ver := v.GetAttr("name"), v.GetAttr("version")
	if !n.IsKnown() || n.IsNull() || n.Type() != cty.String {
		return "", "", false
	}
	if ver.IsKnown() && !ver.IsNull() && ver.Type() == cty.String {
		version = ver.AsString()
	}
	return n.AsString(), version, true
}

// PlaceholderVersion stands for the version while it is unknown, so that
// a default name derived from it is valid when the template is validated.
const PlaceholderVersion = "0.0.0"
