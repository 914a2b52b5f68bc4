package build

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gobwas/glob"
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"

	"github.com/kilnhq/kiln/builder"
	"github.com/kilnhq/kiln/internal/registry"
	"github.com/kilnhq/kiln/postprocessor"
	"github.com/kilnhq/kiln/provisioner"
	"github.com/kilnhq/kiln/template"
)

// Registries holds the component registries a template is planned against.
type Registries struct {
	Builders       *builder.Registry
	Provisioners   *provisioner.Registry
	PostProcessors *postprocessor.Registry
}

// Build is one planned build: a build block applied to one of its sources,
// with every component looked up and its configuration checked.
type Build struct {
	// Name is the full name, as -only and -except match it:
	// "BUILD.TYPE.NAME", or "TYPE.NAME" for an unnamed build block.
	Name   string
	Block  *template.Build
	Source *template.BuildSource

	builder builder.Builder
	// dataNames are the build.* names the build has: engineData and those
	// its builder reports (builder.DataNamer).
	dataNames []string
	// builderFactory decodes the source again for running (runner.decodeBuilder).
	builderFactory builder.Factory
	provisioners   []*plannedProvisioner
	// familyTests are the provisioners of the family's test block.
	familyTests    []*plannedProvisioner
	errorCleanup   *plannedProvisioner
	postProcessors [][]*plannedPostProcessor
}

// plannedProvisioner is a provisioner block and its factory. The block is
// decoded again when it runs, with the build's real build.* values.
type plannedProvisioner struct {
	block   *template.Provisioner
	factory provisioner.Factory
	source  string // `provisioner "shell" (web.pkr.hcl:23)`
	sel     selection
}

type plannedPostProcessor struct {
	block   *template.PostProcessor
	factory postprocessor.Factory
	source  string
	sel     selection
}

// Plan makes one Build per (build block × source) of tpl, keeping those whose
// full name matches a glob of only (when only is not empty) and none of
// except. It decodes every source, provisioner and post-processor body with
// its component's factory, build.* values left unknown, and reports every
// problem at once: this is what kiln validate runs. A template without a
// build block is an error; a pattern that matches no build is a warning.
func Plan(tpl *template.Template, reg Registries, only, except []string) ([]*Build, hcl.Diagnostics) {
	onlyG, diags := compileGlobs("-only", only, nil)
	exceptG, d := compileGlobs("-except", except, nil)
	diags = append(diags, d...)
	if diags.HasErrors() {
		return nil, diags
	}
	if len(tpl.Builds) == 0 {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Missing build block",
			Detail:   "The template has no build block: as in Packer, a build block with one or more sources is needed.",
		})
	}
	p := &planner{tpl: tpl, reg: reg, seen: map[string]bool{}}
	onlyUsed := make([]bool, len(only))
	exceptUsed := make([]bool, len(except))
	var builds []*Build
	used := map[template.SourceRef]bool{}
	for _, b := range tpl.Builds {
		for _, s := range b.Sources {
			used[s.Ref] = true
			name := s.FullName(b)
			if len(onlyG) > 0 && !matchAny(onlyG, onlyUsed, name) {
				continue
			}
			if matchAny(exceptG, exceptUsed, name) {
				continue
			}
			builds = append(builds, p.plan(b, s))
		}
	}
	p.unusedSources(used)
	diags = append(diags, unusedPatterns("-only", only, onlyUsed)...)
	diags = append(diags, unusedPatterns("-except", except, exceptUsed)...)
	return builds, append(diags, p.diags...)
}

type planner struct {
	tpl   *template.Template
	reg   Registries
	diags hcl.Diagnostics
	// seen holds the diagnostics already reported: a source or block
	// shared by several builds is reported once.
	seen map[string]bool
}

func (p *planner) add(diags hcl.Diagnostics) {
	for _, d := range diags {
		explainBuildData(d)
		key := fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
		if !p.seen[key] {
			p.seen[key] = true
			p.diags = append(p.diags, d)
		}
	}
}

func (p *planner) plan(b *template.Build, s *template.BuildSource) *Build {
	out := &Build{Name: s.FullName(b), Block: b, Source: s, dataNames: engineData}
	ectx := familyEvalContext(planContext(p.tpl, b, s, engineData), b.Family)
	if f, ok := p.reg.Builders.Lookup(s.Ref.Type); !ok {
		p.add(unknownType(p.reg.Builders.UnknownError(s.Ref.Type), p.typeRange(s)))
	} else {
		bld, diags := f(s.Body, ectx)
		p.add(diags)
		out.builder, out.builderFactory = bld, f
		if dn, ok := bld.(builder.DataNamer); ok {
			// The provisioners and post-processors may use what this
			// builder reports too.
			out.dataNames = append(slices.Clip(engineData), dn.BuildDataNames()...)
			ectx = familyEvalContext(planContext(p.tpl, b, s, out.dataNames), b.Family)
		}
	}
	p.planFamily(out, ectx)
	for _, pb := range b.Provisioners {
		if pp := p.provisioner(s, pb, ectx); pp != nil {
			out.provisioners = append(out.provisioners, pp)
		}
	}
	if b.ErrorCleanupProvisioner != nil {
		out.errorCleanup = p.provisioner(s, b.ErrorCleanupProvisioner, ectx)
	}
	for _, chain := range b.PostProcessors {
		var planned []*plannedPostProcessor
		for _, pb := range chain {
			f, ok := p.reg.PostProcessors.Lookup(pb.Type)
			if !ok {
				p.add(unknownType(p.reg.PostProcessors.UnknownError(pb.Type), pb.TypeRange))
				continue
			}
			_, diags := f(pb.Body, ectx)
			p.add(diags)
			sel, diags := compileSelection(pb.Only, pb.Except, pb.DeclRange)
			p.add(diags)
			planned = append(planned, &plannedPostProcessor{
				block: pb, factory: f, sel: sel,
				source: blockSource("post-processor", pb.Type, pb.Name, pb.DeclRange),
			})
		}
		out.postProcessors = append(out.postProcessors, planned)
	}
	return out
}

// unusedSources checks the sources no build uses, in the order of their
// declarations: their type must exist and their body decode.
func (p *planner) unusedSources(used map[template.SourceRef]bool) {
	var unused []*template.Source
	for ref, src := range p.tpl.Sources {
		if !used[ref] {
			unused = append(unused, src)
		}
	}
	slices.SortFunc(unused, func(a, b *template.Source) int {
		return cmp.Or(strings.Compare(a.DeclRange.Filename, b.DeclRange.Filename), cmp.Compare(a.DeclRange.Start.Byte, b.DeclRange.Start.Byte))
	})
	for _, src := range unused {
		f, ok := p.reg.Builders.Lookup(src.Type)
		if !ok {
			p.add(unknownType(p.reg.Builders.UnknownError(src.Type), src.TypeRange))
			continue
		}
		_, diags := f(src.Body, planContext(p.tpl, nil, nil, engineData))
		p.add(diags)
	}
}

func (p *planner) provisioner(s *template.BuildSource, pb *template.Provisioner, ectx *hcl.EvalContext) *plannedProvisioner {
	f, ok := p.reg.Provisioners.Lookup(pb.Type)
	if !ok {
		p.add(unknownType(p.reg.Provisioners.UnknownError(pb.Type), pb.TypeRange))
		return nil
	}
	_, diags := f(pb.BodyFor(s), ectx)
	p.add(diags)
	sel, diags := compileSelection(pb.Only, pb.Except, pb.DeclRange)
	p.add(diags)
	return &plannedProvisioner{
		block: pb, factory: f, sel: sel,
		source: blockSource("provisioner", pb.Type, pb.Name, pb.DeclRange),
	}
}

// engineData are the build.* names every build has, as Packer documents
// them: name is the build block's name, PackerRunUUID the run's ID, and the
// rest are what the builder and its communicator report ("" until then). A
// builder that reports more names them with builder.DataNamer.
var engineData = []string{
	"name", "ID", "Host", "Port", "User", "Password", "ConnType", "SSHPublicKey", "SSHPrivateKey",
	"PackerRunUUID", "PackerHTTPIP", "PackerHTTPPort", "PackerHTTPAddr",
}

// planContext is tpl.EvalContext with build.* unknown strings of names,
// the names a build has, so that a reference to any other name is an error
// ("did you mean") before anything runs.
func planContext(tpl *template.Template, b *template.Build, s *template.BuildSource, names []string) *hcl.EvalContext {
	ectx := tpl.EvalContext(b, s, nil)
	attrs := map[string]cty.Type{}
	for _, n := range names {
		attrs[n] = cty.String
	}
	ectx.Variables["build"] = cty.UnknownVal(cty.Object(attrs))
	return ectx
}

// explainBuildData rewrites HCL's "Unsupported attribute" about build.NAME
// (the names planContext gives) to say which names a build has, with a
// "did you mean".
func explainBuildData(d *hcl.Diagnostic) {
	if d.Summary != "Unsupported attribute" || d.Expression == nil || d.EvalContext == nil {
		return
	}
	build, ok := d.EvalContext.Variables["build"]
	if !ok || !build.Type().IsObjectType() {
		return
	}
	for _, tr := range d.Expression.Variables() {
		if tr.RootName() != "build" || len(tr) < 2 {
			continue
		}
		attr, ok := tr[1].(hcl.TraverseAttr)
		if !ok || build.Type().HasAttribute(attr.Name) {
			continue
		}
		names := slices.Sorted(maps.Keys(build.Type().AttributeTypes()))
		hint := ""
		if s := registry.Suggest(attr.Name, names); s != "" {
			hint = fmt.Sprintf(" Did you mean %q?", s)
		}
		d.Summary = "Unknown build variable"
		d.Detail = fmt.Sprintf("A build has no build.%s.%s Its build.* names are: %s.", attr.Name, hint, strings.Join(names, ", "))
		return
	}
}

// typeRange returns where the source's type label is written: on the
// top-level source block when there is one.
func (p *planner) typeRange(s *template.BuildSource) hcl.Range {
	if src, ok := p.tpl.Sources[s.Ref]; ok {
		return src.TypeRange
	}
	return s.DeclRange
}

func unknownType(msg string, rng hcl.Range) hcl.Diagnostics {
	if !strings.HasSuffix(msg, "?") {
		msg += "."
	}
	return hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  "Unknown component type",
		Detail:   msg,
		Subject:  rng.Ptr(),
	}}
}

// blockSource names a block for output and errors:
// `provisioner "shell" (web.pkr.hcl:23)`, or with its name
// `provisioner "shell" "install" (web.pkr.hcl:23)`.
func blockSource(kind, typ, name string, rng hcl.Range) string {
	s := fmt.Sprintf("%s %q", kind, typ)
	if name != "" {
		s += fmt.Sprintf(" %q", name)
	}
	return fmt.Sprintf("%s (%s:%d)", s, filepath.Base(rng.Filename), rng.Start.Line)
}

func compileGlobs(what string, patterns []string, subject *hcl.Range) ([]glob.Glob, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	out := make([]glob.Glob, 0, len(patterns))
	for _, pat := range patterns {
		g, err := glob.Compile(pat)
		if err != nil {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Invalid " + what + " pattern",
				Detail:   fmt.Sprintf("%q is not a valid glob pattern: %v.", pat, err),
				Subject:  subject,
			})
			continue
		}
		out = append(out, g)
	}
	return out, diags
}

// matchAny reports whether name matches any of gs, marking in used each
// pattern that matched.
func matchAny(gs []glob.Glob, used []bool, name string) bool {
	hit := false
	for i, g := range gs {
		if g.Match(name) {
			hit = true
			if used != nil {
				used[i] = true
			}
		}
	}
	return hit
}

func unusedPatterns(what string, patterns []string, used []bool) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for i, pat := range patterns {
		if !used[i] {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagWarning,
				Summary:  what + " pattern matches no build",
				Detail:   fmt.Sprintf("No build's full name (BUILD.TYPE.NAME) matches %q.", pat),
			})
		}
	}
	return diags
}

// selection is a block's only and except: glob patterns over the names of
// the build's sources ("TYPE.NAME"). The template warns about patterns that
// match none of them.
type selection struct {
	only, except []glob.Glob
}

func compileSelection(only, except []string, rng hcl.Range) (selection, hcl.Diagnostics) {
	var sel selection
	var diags, d hcl.Diagnostics
	sel.only, diags = compileGlobs("only", only, rng.Ptr())
	sel.except, d = compileGlobs("except", except, rng.Ptr())
	return sel, append(diags, d...)
}

// includes reports whether the block runs for source s.
func (sel selection) includes(s *template.BuildSource) bool {
	name := s.Ref.Type + "." + s.Name
	if len(sel.only) > 0 && !matchAny(sel.only, nil, name) {
		return false
	}
	return !matchAny(sel.except, nil, name)
}
