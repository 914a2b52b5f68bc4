package postprocessor

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/registry"
)

// PostProcessor acts on an artifact and may produce a new one.
type PostProcessor interface {
	// PostProcess returns the artifact the next post-processor in the chain
	// receives (in itself when it makes nothing new), and whether in must be
	// kept when out differs from it.
	PostProcess(ctx context.Context, env *Env, in artifact.Artifact) (out artifact.Artifact, keepInput bool, err error)
}

// Env is what the engine gives a post-processor for one run.
type Env struct {
	Info   builder.Info
	Events event.Sink
	// Source names the post-processor block for output and errors.
	Source string
	// Force is kiln build -force: post-processors replace output left by
	// earlier runs (the manifest starts afresh) instead of adding to it.
	Force bool
	// Secrets are the template's sensitive values and the secrets the
	// builder reported (passwords, private keys). Events is redacted
	// already; a post-processor that records template values in a file
	// replaces these with event.Redacted (event.RedactString).
	Secrets []string
}

// Factory decodes a post-processor body. It must not have side effects.
type Factory func(body hcl.Body, ectx *hcl.EvalContext) (PostProcessor, hcl.Diagnostics)

// Registry maps post-processor type labels to Factories.
type Registry = registry.Registry[Factory]

// NewRegistry returns an empty post-processor registry.
func NewRegistry() *Registry { return registry.New[Factory]("post-processor") }
