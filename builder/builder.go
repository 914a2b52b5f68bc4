package builder

import (
	"context"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/artifact"
	"github.com/kilnhq/kiln/communicator"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/internal/registry"
	"github.com/kilnhq/kiln/step"
)

// Builder makes one image from one source.
type Builder interface {
	// Run boots a temporary machine, calls hook.Provision once the machine is
	// reachable, turns the result into an artifact and removes every temporary
	// resource, also when ctx is cancelled. A nil artifact with a nil error
	// means the build made nothing (the null builder).
	Run(ctx context.Context, env *Env, hook Hook) (artifact.Artifact, error)
}

// Hook is how provisioning reaches a builder.
type Hook interface {
	// Provision runs the build's provisioners over comm. data holds the
	// values a builder knows about the machine, exposed to templates as
	// build.NAME and to legacy strings as {{ .NAME }}: Host, Port, User,
	// ID, SSHPublicKey, SourceAMI, BuildRegion and so on.
	Provision(ctx context.Context, comm communicator.Communicator, data map[string]string) error
}

// DataNamer is the optional ability of a Builder to report build.* values
// beyond those every build has (ID, Host, Port, User, Password, ConnType,
// SSHPublicKey, SSHPrivateKey, PackerRunUUID, PackerHTTPIP, PackerHTTPPort,
// PackerHTTPAddr, name). BuildDataNames lists the extra names the builder
// passes to Hook.Provision, so that templates may use them as build.NAME;
// a reference to a name that no one reports is an error when the template
// is validated.
type DataNamer interface {
	BuildDataNames() []string
}

// HookFunc adapts a function to a Hook.
type HookFunc func(ctx context.Context, comm communicator.Communicator, data map[string]string) error

// Provision calls f.
func (f HookFunc) Provision(ctx context.Context, comm communicator.Communicator, data map[string]string) error {
	return f(ctx, comm, data)
}

// Info describes the build a component is working for.
type Info struct {
	// Name is the full build name: "BUILD.TYPE.SOURCE", or "TYPE.SOURCE"
	// for an unnamed build block.
	Name string
	// Type is the source's type label ("amazon-ebs").
	Type string
	// SourceName is the source's name, after any name override in the build.
	SourceName string
	// ID is unique to this build in this run; temporary resources are
	// tagged with it.
	ID string
	// RunID is unique to the kiln run (Packer's packer_run_uuid).
	RunID string
	// Started is when the run started; the one timestamp of the run.
	Started time.Time
}

// Image is the identity of the image a run makes, when the engine decides
// it (a build with a family block, see package family).
type Image struct {
	// Name is the name the image must have (an AMI name; a disk image's
	// file name without its format's extension). It replaces the name the
	// builder's configuration gives.
	Name string
	// Family and Version are the image's family and semver version.
	Family, Version string
	// Tags are the lineage tags to put on the image and on what it is made
	// of (snapshots; a local image's sidecar), on top of the configured ones.
	Tags map[string]string
}

// Env is what the engine gives a builder for one run.
type Env struct {
	Info   Info
	Events event.Sink
	// Image, when not nil, is the identity of the image to make; the
	// engine sets it only for builders that can make family images.
	Image *Image
	// OnError and Ask say what the builder's step runner does on failure.
	OnError step.Policy
	Ask     step.Asker
	// CleanupStop is closed when cleanup must stop (the CLI's second
	// interrupt): what is not removed yet is reported as left behind.
	CleanupStop <-chan struct{}
	// Force asks builders to replace existing output (kiln build -force).
	Force bool
	// Debug asks builders to keep diagnostic material, such as the
	// temporary private keys (written 0600).
	Debug bool
}

// Factory decodes a source body into a Builder. It must not have side effects:
// it runs for validation too, with values that are not yet known left unknown
// in ectx.
type Factory func(body hcl.Body, ectx *hcl.EvalContext) (Builder, hcl.Diagnostics)

// Registry maps source type labels to Factories.
type Registry = registry.Registry[Factory]

// NewRegistry returns an empty builder registry.
func NewRegistry() *Registry { return registry.New[Factory]("builder") }

// Runner returns the step runner a builder runs its steps with: env's
// on-error policy, asker and cleanup stop, sending events to events (usually
// env.Events, or a sink wrapping it).
func (env *Env) Runner(events event.Sink) step.Runner {
	return step.Runner{Events: events, Policy: env.OnError, Ask: env.Ask, Stop: env.CleanupStop}
}
