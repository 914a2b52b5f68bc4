package template

import (
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

// Template is a loaded set of template files: every block decoded into typed
// values, with variables and locals evaluated, and component bodies kept raw
// for their components to decode.
type Template struct {
	// Root is the directory the template was loaded from (path.root).
	Root string
	// Files holds every parsed file by name, for diagnostics with snippets.
	Files map[string]*hcl.File
	// Now is the run's single timestamp: every timestamp() call and legacy
	// {{ timestamp }} in one run agrees on it.
	Now time.Time
	// IterationID is the run's packer.iterationID, a random UUID that Load
	// chooses: every expression in one run agrees on it.
	IterationID string

	Variables map[string]*Variable
	Locals    map[string]*Local
	// Data holds the data blocks; their values are unknown until
	// EvaluateDataSources runs them.
	Data    map[DataRef]*Data
	Sources map[SourceRef]*Source
	Builds  []*Build

	cwd   string               // path.cwd, and the base of relative paths in file functions
	env   []string             // the environment env() reads in variable defaults
	funcs funcMap              // functions outside variable defaults
	base  map[string]cty.Value // var, local, data, path and packer
	// pending is set until EvaluateDataSources succeeds.
	pending *pendingData
	// dataSecrets are the parts of data values that sensitive locals use,
	// and the secrets data sources report (SecretsReporter).
	dataSecrets []cty.Value
}

// Variable is a declared input variable and the value it resolved to.
type Variable struct {
	Name        string
	Description string
	Type        cty.Type
	Default     cty.Value
	Sensitive   bool
	// Nullable is false when the variable declares nullable = false: its
	// value may then not be null.
	Nullable bool
	// Required is true when the variable has no default: it must be given a
	// value.
	Required bool
	// Value is the resolved value, after defaults, environment, var files
	// and -var flags.
	Value     cty.Value
	DeclRange hcl.Range
}

// Local is a local value.
type Local struct {
	Name      string
	Sensitive bool
	Value     cty.Value
	DeclRange hcl.Range
}

// SourceRef names a top-level source block: TYPE.NAME.
type SourceRef struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (r SourceRef) String() string { return r.Type + "." + r.Name }

// Source is a top-level source block, its body kept raw.
type Source struct {
	SourceRef
	Body      hcl.Body
	DeclRange hcl.Range
	// TypeRange is the range of the type label, where an unknown type is reported.
	TypeRange hcl.Range
}

// Build is a build block.
type Build struct {
	Name        string
	Description string
	Sources     []*BuildSource
	// Provisioners run in order on every source of the build.
	Provisioners []*Provisioner
	// ErrorCleanupProvisioner runs when a provisioner fails; nil if absent.
	ErrorCleanupProvisioner *Provisioner
	// PostProcessors is a list of chains: a lone post-processor block is a
	// chain of one; a post-processors block is one chain.
	PostProcessors [][]*PostProcessor
	// Family is the build's family block (a kiln extension); nil without one.
	Family    *Family
	DeclRange hcl.Range
}

// BuildSource is one source used by a build: a reference in sources = [...]
// or a source "TYPE.NAME" block with overrides.
type BuildSource struct {
	Ref SourceRef
	// Name is the name the build uses for the source: the override given by
	// `name = ...` or Ref.Name. It is source.name in expressions.
	Name string
	// Body is the top-level source's body with the build's overrides applied:
	// an attribute set in the build's source block replaces the one in the
	// top-level block.
	Body      hcl.Body
	DeclRange hcl.Range
}

// FullName is the build's name for this source, as -only and -except match it:
// "BUILD.TYPE.NAME", or "TYPE.NAME" when the build block has no name.
func (s *BuildSource) FullName(b *Build) string {
	n := s.Ref.Type + "." + s.Name
	if b.Name != "" {
		return b.Name + "." + n
	}
	return n
}

// Provisioner is a provisioner (or error-cleanup-provisioner) block. The
// options kiln applies around every provisioner are decoded; the rest stays in
// Body for the component.
type Provisioner struct {
	Type string
	// Name is the optional `name` attribute.
	Name        string
	Body        hcl.Body
	PauseBefore time.Duration
	Timeout     time.Duration
	MaxRetries  int
	// Only and Except are glob patterns over source names ("TYPE.NAME").
	Only, Except []string
	// Override holds Packer's per-source overrides (override = { NAME = {
	// attributes } }), keyed by source name as written ("NAME" or
	// "TYPE.NAME"). BodyFor applies them.
	Override  map[string]hcl.Body
	DeclRange hcl.Range
	TypeRange hcl.Range
}

// PostProcessor is a post-processor block.
type PostProcessor struct {
	Type string
	Name string
	Body hcl.Body
	// KeepInputArtifact is nil when not set.
	KeepInputArtifact *bool
	Only, Except      []string
	DeclRange         hcl.Range
	TypeRange         hcl.Range
}
