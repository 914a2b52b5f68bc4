package kiln

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/kilnhq/kiln/build"
	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/builder/amazonebs"
	"github.com/kilnhq/kiln/builder/null"
	"github.com/kilnhq/kiln/builder/qemu"
	"github.com/kilnhq/kiln/event"
	"github.com/kilnhq/kiln/postprocessor"
	"github.com/kilnhq/kiln/postprocessor/checksum"
	"github.com/kilnhq/kiln/postprocessor/manifest"
	ppshelllocal "github.com/kilnhq/kiln/postprocessor/shelllocal"
	"github.com/kilnhq/kiln/provisioner"
	"github.com/kilnhq/kiln/provisioner/file"
	"github.com/kilnhq/kiln/provisioner/shell"
	"github.com/kilnhq/kiln/provisioner/shelllocal"
	"github.com/kilnhq/kiln/step"
	"github.com/kilnhq/kiln/template"
)

// Version is kiln's version; release builds set it with
// -ldflags "-X github.com/kilnhq/kiln.Version=v1.2.3".
var Version = "0.1.0-dev"

// embeddedPlugins maps the type labels of components that Packer ships as
// plugins to the plugin's source, so that a template's
// packer { required_plugins } entry for them is satisfied.
var embeddedPlugins = map[string]string{
	amazonebs.Type: "github.com/hashicorp/amazon",
	qemu.Type:      "github.com/hashicorp/qemu",
}

// DefaultRegistries returns new registries holding every component kiln
// embeds, under the type labels Packer uses.
func DefaultRegistries() build.Registries {
	reg := build.Registries{
		Builders:       builder.NewRegistry(),
		Provisioners:   provisioner.NewRegistry(),
		PostProcessors: postprocessor.NewRegistry(),
	}
	reg.Builders.Register(null.Type, null.New)
	reg.Builders.Register(qemu.Type, qemu.New)
	reg.Builders.Register(amazonebs.Type, amazonebs.New)
	reg.Provisioners.Register("shell", shell.New)
	reg.Provisioners.Register("file", file.New)
	reg.Provisioners.Register("shell-local", shelllocal.New)
	reg.PostProcessors.Register("manifest", manifest.New)
	reg.PostProcessors.Register("checksum", checksum.New)
	reg.PostProcessors.Register("shell-local", ppshelllocal.New)
	return reg
}

// Load reads the template at path (a file or a directory), as
// template.Load does, accepting required_plugins entries for the plugins
// whose components kiln embeds, with the data sources of
// DefaultDataSources (a later template.WithDataSources replaces them). Data
// sources are not run: their values stay unknown until Build runs them, or
// the caller calls tpl.EvaluateDataSources.
func Load(path string, opts ...template.LoadOption) (*template.Template, hcl.Diagnostics) {
	var plugins []string
	for _, name := range DefaultRegistries().Builders.Names() {
		if p, ok := embeddedPlugins[name]; ok {
			plugins = append(plugins, p)
		}
	}
	opts = append([]template.LoadOption{
		template.WithEmbeddedPlugins(plugins...),
		template.WithDataSources(DataSources(DefaultDataSources())),
	}, opts...)
	return template.Load(path, opts...)
}

// Option adjusts Validate and Build.
type Option func(*options)

type options struct {
	run          build.Options
	only, except []string
	registries   *build.Registries
}

// WithEvents sends every event of a build to s (one at a time, sensitive
// values redacted). Without it events are dropped.
func WithEvents(s event.Sink) Option { return func(o *options) { o.run.Events = s } }

// WithOnly keeps the builds whose full name (BUILD.TYPE.NAME, or TYPE.NAME
// for an unnamed build block) matches one of the glob patterns.
func WithOnly(patterns ...string) Option {
	return func(o *options) { o.only = append(o.only, patterns...) }
}

// WithExcept drops the builds whose full name matches one of the patterns.
func WithExcept(patterns ...string) Option {
	return func(o *options) { o.except = append(o.except, patterns...) }
}

// WithParallelBuilds runs at most n builds at once; 0 (the default) means
// no limit.
func WithParallelBuilds(n int) Option { return func(o *options) { o.run.Parallel = n } }

// WithOnError sets the on-error policy; the default is step.Cleanup.
func WithOnError(p step.Policy) Option { return func(o *options) { o.run.OnError = p } }

// WithAsker sets who answers the step.Ask policy. Builds ask one at a time.
func WithAsker(a step.Asker) Option { return func(o *options) { o.run.Ask = a } }

// WithForce lets builds replace output of earlier runs (kiln build -force).
func WithForce(force bool) Option { return func(o *options) { o.run.Force = force } }

// WithDebug asks builders to keep diagnostic material (kiln build -debug).
func WithDebug(debug bool) Option { return func(o *options) { o.run.Debug = debug } }

// WithFailFast cancels the other builds as soon as one fails.
func WithFailFast(failFast bool) Option { return func(o *options) { o.run.FailFast = failFast } }

// WithCleanupStop stops cleanup when stop is closed: a build whose context
// was cancelled removes its temporary resources until then, and reports
// what remains as event.LeftBehind. The CLI closes it on a second interrupt.
func WithCleanupStop(stop <-chan struct{}) Option {
	return func(o *options) { o.run.CleanupStop = stop }
}

// WithRegistries uses reg instead of DefaultRegistries, for programs that
// add their own components.
func WithRegistries(reg build.Registries) Option { return func(o *options) { o.registries = &reg } }

func collect(opts []Option) *options {
	o := &options{run: build.Options{KilnVersion: Version}}
	for _, opt := range opts {
		opt(o)
	}
	if o.registries == nil {
		reg := DefaultRegistries()
		o.registries = &reg
	}
	return o
}

// Validate checks tpl's builds (those selected by WithOnly and WithExcept)
// without running anything: every source, provisioner and post-processor
// must be known and its configuration valid. It reports every problem at
// once; print them with tpl.WriteDiagnostics.
func Validate(tpl *template.Template, opts ...Option) hcl.Diagnostics {
	o := collect(opts)
	_, diags := build.Plan(tpl, *o.registries, o.only, o.except)
	return diags
}

// Build runs tpl's builds (those selected by WithOnly and WithExcept) and
// returns when all have ended. When the template does not validate, Build
// runs nothing and returns a nil Result and the hcl.Diagnostics as the
// error. Otherwise the Result holds each build's artifacts and error, and
// the error is Result.Err(): nil when every build succeeded. Warnings from
// validation are sent as event.Message.
//
// Before planning, Build runs the template's data sources (until they
// succeed once: see template.EvaluateDataSources), after checking what does not
// depend on their values, and sends each result as an event.Message,
// sensitive values redacted; a failed data source is an error diagnostic
// like a validation problem.
func Build(ctx context.Context, tpl *template.Template, opts ...Option) (*build.Result, error) {
	o := collect(opts)
	if tpl.HasPendingData() {
		// Problems that do not depend on data values stop the build before
		// anything is looked up.
		if _, diags := build.Plan(tpl, *o.registries, o.only, o.except); diags.HasErrors() {
			return nil, diags
		}
	}
	diags := evaluateDataSources(ctx, tpl, o.run.Events)
	if diags.HasErrors() {
		return nil, diags
	}
	builds, planDiags := build.Plan(tpl, *o.registries, o.only, o.except)
	diags = append(diags, planDiags...)
	if diags.HasErrors() {
		return nil, diags
	}
	if o.run.Events != nil && len(diags) > 0 {
		warn := event.Redact(o.run.Events, tpl.SensitiveValues())
		for _, d := range diags {
			warn.Emit(&event.Message{Meta: event.Meta{Time: time.Now()}, Level: event.Warn, Text: diagText(d)})
		}
	}
	res := build.Run(ctx, tpl, builds, o.run)
	return res, res.Err()
}

func diagText(d *hcl.Diagnostic) string {
	s := d.Summary
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	if d.Subject != nil {
		s = fmt.Sprintf("%s: %s", d.Subject, s)
	}
	return s
}
