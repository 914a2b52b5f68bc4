package shelllocal

import (
	"context"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/internal/localexec"
	"github.com/kilnhq/kiln/postprocessor"
)

// PostProcessor runs local commands after a build.
type PostProcessor struct {
	cfg *localexec.Config
}

var _ postprocessor.Factory = New

// New decodes a shell-local post-processor block. As in Packer, an
// execute_command of a single string is run with "sh -c".
func New(body hcl.Body, ectx *hcl.EvalContext) (postprocessor.PostProcessor, hcl.Diagnostics) {
	cfg, diags := localexec.Decode(body, ectx, true)
	if diags.HasErrors() {
		return nil, diags
	}
	return &PostProcessor{cfg: cfg}, diags
}

// PostProcess runs the commands and returns in, kept. Legacy {{ .Name }}
// strings see the artifact's "generated_data" state, as in Packer, when the
// artifact offers it as a map[string]string.
func (p *PostProcessor) PostProcess(ctx context.Context, env *postprocessor.Env, in artifact.Artifact) (artifact.Artifact, bool, error) {
	var data map[string]string
	if s, ok := in.(artifact.Stater); ok {
		data, _ = s.State("generated_data").(map[string]string)
	}
	err := p.cfg.Run(ctx, localexec.Env{
		Events: env.Events,
		Source: env.Source,
		Info:   env.Info,
		Data:   data,
	})
	if err != nil {
		return nil, false, err
	}
	return in, true, nil
}
