package shelllocal

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/internal/localexec"
	"github.com/kilnhq/kiln/provisioner"
)

// Provisioner runs local commands.
type Provisioner struct {
	cfg *localexec.Config
}

var _ provisioner.Factory = New

// New decodes a shell-local provisioner block.
func New(body hcl.Body, ectx *hcl.EvalContext) (provisioner.Provisioner, hcl.Diagnostics) {
	cfg, diags := localexec.Decode(body, ectx, false)
	if diags.HasErrors() {
		return nil, diags
	}
	return &Provisioner{cfg: cfg}, diags
}

// Provision runs the commands locally; the communicator is not used.
func (p *Provisioner) Provision(ctx context.Context, env *provisioner.Env, _ communicator.Communicator) error {
	return p.cfg.Run(ctx, localexec.Env{
		Events: env.Events,
		Source: env.Source,
		Info:   env.Info,
		Data:   env.Data,
	})
}
