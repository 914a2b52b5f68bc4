package null

import (
	"context"
	"fmt"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/communicator/ssh"
	"github.com/kilnhq/kiln/internal/hclconf"
	"github.com/kilnhq/kiln/step"
)

// Type is the source type label of this builder.
const Type = "null"

// Config is the body of a source "null" block: only communicator options.
type Config struct {
	ssh.Config `hcl:",squash"`
}

// Builder is a decoded source "null" block.
type Builder struct {
	cfg Config
}

// New decodes a source "null" body. Without communicator = "none", ssh_host
// and ssh_username are required: there is no machine to learn them from.
func New(body hcl.Body, ectx *hcl.EvalContext) (builder.Builder, hcl.Diagnostics) {
	b := &Builder{}
	diags := hclconf.Decode(body, ectx, &b.cfg)
	if diags.HasErrors() {
		return nil, diags
	}
	diags = append(diags, b.cfg.Validate(body)...)
	if b.cfg.Enabled() {
		diags = append(diags, requireAttrs(body, "ssh_host", "ssh_username")...)
	}
	if diags.HasErrors() {
		return nil, diags
	}
	return b, diags
}

// requireAttrs reports the named attributes missing from body. A set
// attribute whose value is not known yet counts as present.
func requireAttrs(body hcl.Body, names ...string) hcl.Diagnostics {
	schema := &hcl.BodySchema{}
	for _, n := range names {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: n})
	}
	content, _, _ := body.PartialContent(schema)
	var diags hcl.Diagnostics
	for _, n := range names {
		if _, ok := content.Attributes[n]; !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   fmt.Sprintf(`The null builder connects to an existing host: set %s, or communicator = "none" to run only local provisioners.`, n),
				Subject:  body.MissingItemRange().Ptr(),
			})
		}
	}
	return diags
}

// Artifact is what a null build produces: nothing. It exists, as in Packer,
// so that post-processors such as manifest record the build; its ID is
// "Null".
type Artifact struct{}

// BuilderType returns "null".
func (Artifact) BuilderType() string { return Type }

// ID returns "Null", as Packer's null builder does.
func (Artifact) ID() string { return "Null" }

// Files returns nil: nothing was exported.
func (Artifact) Files() []string { return nil }

func (Artifact) String() string { return "Did not export anything. This is the null builder" }

type state struct {
	comm *ssh.Comm
}

// Run connects to the host (unless communicator = "none"), hands the
// connection to the provisioners and closes it.
func (b *Builder) Run(ctx context.Context, env *builder.Env, hook builder.Hook) (artifact.Artifact, error) {
	var s state
	defer func() {
		if s.comm != nil {
			s.comm.Close()
		}
	}()
	runner := env.Runner(env.Events)
	err := step.Run(ctx, runner, &s,
		step.Step[state]{Name: "connect", Run: b.connect(env)},
		step.Step[state]{Name: "provision", Run: b.provision(hook)},
	)
	if err != nil {
		return nil, err
	}
	return Artifact{}, nil
}

func (b *Builder) connect(env *builder.Env) func(context.Context, *state, *step.Undo) error {
	return func(ctx context.Context, s *state, _ *step.Undo) error {
		if !b.cfg.Enabled() {
			return nil
		}
		comm, err := ssh.Connect(ctx, &b.cfg.Config, ssh.ConnectOptions{Events: env.Events})
		if err != nil {
			return fmt.Errorf("connect: %w", err)
		}
		s.comm = comm
		return nil
	}
}

func (b *Builder) provision(hook builder.Hook) func(context.Context, *state, *step.Undo) error {
	return func(ctx context.Context, s *state, _ *step.Undo) error {
		data := s.comm.BuildData()
		data["ID"] = "Null"
		var comm communicator.Communicator
		if s.comm != nil {
			comm = s.comm
		}
		return hook.Provision(ctx, comm, data)
	}
}
