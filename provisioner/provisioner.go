package provisioner

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/registry"
)

// Provisioner changes the machine behind a communicator.
type Provisioner interface {
	Provision(ctx context.Context, env *Env, comm communicator.Communicator) error
}

// Env is what the engine gives a provisioner for one run.
type Env struct {
	Info   builder.Info
	Events event.Sink
	// Source names the provisioner block for output and errors:
	// `provisioner "shell" (web.pkr.hcl:23)`.
	Source string
	// Data holds the builder's values for legacy {{ .NAME }} strings.
	Data map[string]string
}

// Factory decodes a provisioner body. It must not have side effects: it runs
// for validation too, with unknown values left unknown in ectx.
type Factory func(body hcl.Body, ectx *hcl.EvalContext) (Provisioner, hcl.Diagnostics)

// Registry maps provisioner type labels to Factories.
type Registry = registry.Registry[Factory]

// NewRegistry returns an empty provisioner registry.
func NewRegistry() *Registry { return registry.New[Factory]("provisioner") }
