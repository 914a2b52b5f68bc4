package template

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

var buildSchema = &hcl.BodySchema{
	Attributes: []hcl.AttributeSchema{{Name: "name"}, {Name: "description"}, {Name: "sources"}},
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "source", LabelNames: []string{"reference"}},
		{Type: "provisioner", LabelNames: []string{"type"}},
		{Type: "error-cleanup-provisioner", LabelNames: []string{"type"}},
		{Type: "post-processor", LabelNames: []string{"type"}},
		{Type: "post-processors"},
		{Type: "family"},
		{Type: "hcp_packer_registry"},
	},
}

var buildSourceSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{{Name: "name"}}}

var postProcessorsSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
	{Type: "post-processor", LabelNames: []string{"type"}},
}}

// decodeSource records a top-level source block.
func (l *loader) decodeSource(b *hcl.Block) hcl.Diagnostics {
	ref := SourceRef{Type: b.Labels[0], Name: b.Labels[1]}
	if prev, ok := l.t.Sources[ref]; ok {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Duplicate source block",
			Detail:   fmt.Sprintf("The source %s was already defined at %s.", ref, prev.DeclRange),
			Subject:  b.DefRange.Ptr(),
		}}
	}
	l.t.Sources[ref] = &Source{SourceRef: ref, Body: b.Body, DeclRange: b.DefRange, TypeRange: b.LabelRanges[0]}
	return nil
}

// decodeBuild reads a build block.
func (l *loader) decodeBuild(block *hcl.Block) hcl.Diagnostics {
	content, diags := block.Body.Content(buildSchema)
	b := &Build{DeclRange: block.DefRange}
	ctx := l.t.evalContext()
	if attr, ok := content.Attributes["name"]; ok {
		diags = append(diags, decodeString(attr, ctx, &b.Name)...)
	}
	if attr, ok := content.Attributes["description"]; ok {
		diags = append(diags, decodeString(attr, ctx, &b.Description)...)
	}
	seen := map[string]*BuildSource{}
	addSource := func(s *BuildSource) {
		key := s.Ref.Type + "." + s.Name
		if prev, ok := seen[key]; ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Duplicate source in build",
				Detail: fmt.Sprintf("The build already uses %s at %s; give one of them another name with a source block and name = \"...\".",
					key, prev.DeclRange),
				Subject: s.DeclRange.Ptr(),
			})
			return
		}
		seen[key] = s
		b.Sources = append(b.Sources, s)
	}
	if attr, ok := content.Attributes["sources"]; ok {
		exprs, d := hcl.ExprList(attr.Expr)
		diags = append(diags, d...)
		for _, e := range exprs {
			ref, d := l.sourceRef(e)
			diags = append(diags, d...)
			if d.HasErrors() {
				continue
			}
			src := l.t.Sources[ref]
			addSource(&BuildSource{Ref: ref, Name: ref.Name, Body: src.Body, DeclRange: e.Range()})
		}
	}

	var checks []filterCheck
	var registry *hcl.Block // the build's hcp_packer_registry block
	for _, blk := range content.Blocks {
		switch blk.Type {
		case "source":
			s, d := l.decodeBuildSource(blk)
			diags = append(diags, d...)
			if s != nil {
				addSource(s)
			}
		case "provisioner", "error-cleanup-provisioner":
			p, d := l.decodeProvisioner(blk, b, &checks)
			diags = append(diags, d...)
			if blk.Type == "provisioner" {
				b.Provisioners = append(b.Provisioners, p)
				continue
			}
			if b.ErrorCleanupProvisioner != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Duplicate error-cleanup-provisioner block",
					Detail:   fmt.Sprintf("A build has at most one; another is defined at %s.", b.ErrorCleanupProvisioner.DeclRange),
					Subject:  blk.DefRange.Ptr(),
				})
				continue
			}
			b.ErrorCleanupProvisioner = p
		case "post-processor":
			pp, d := l.decodePostProcessor(blk, b, &checks)
			diags = append(diags, d...)
			b.PostProcessors = append(b.PostProcessors, []*PostProcessor{pp})
		case "post-processors":
			pc, d := blk.Body.Content(postProcessorsSchema)
			diags = append(diags, d...)
			var chain []*PostProcessor
			for _, ppb := range pc.Blocks {
				pp, d := l.decodePostProcessor(ppb, b, &checks)
				diags = append(diags, d...)
				chain = append(chain, pp)
			}
			if len(chain) > 0 {
				b.PostProcessors = append(b.PostProcessors, chain)
			}
		case "family":
			diags = append(diags, l.decodeFamily(blk, b, &checks)...)
		case "hcp_packer_registry":
			if registry != nil {
				diags = append(diags, duplicateHCPRegistry(blk, registry, "A build has"))
			}
			registry = blk
			diags = append(diags, l.decodeHCPRegistry(blk, l.t.EvalContext(b, nil, nil))...)
		}
	}
	if len(b.Sources) == 0 && !diags.HasErrors() {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Build without sources",
			Detail:   "A build needs at least one source: set sources = [\"source.TYPE.NAME\"] or add a source \"source.TYPE.NAME\" block.",
			Subject:  block.DefRange.Ptr(),
		})
	}
	diags = append(diags, checkFilters(b, checks)...)
	l.t.Builds = append(l.t.Builds, b)
	return diags
}

// sourceRef reads a reference to a top-level source: "source.TYPE.NAME",
// "sources.TYPE.NAME" or "TYPE.NAME", quoted or as a bare reference.
func (l *loader) sourceRef(expr hcl.Expression) (SourceRef, hcl.Diagnostics) {
	var s string
	if tr, d := hcl.AbsTraversalForExpr(expr); !d.HasErrors() {
		parts := []string{tr.RootName()}
		for _, step := range tr[1:] {
			a, ok := step.(hcl.TraverseAttr)
			if !ok {
				parts = nil
				break
			}
			parts = append(parts, a.Name)
		}
		s = strings.Join(parts, ".")
	} else {
		val, d := expr.Value(nil)
		if d.HasErrors() || !val.IsKnown() || val.IsNull() || !val.Type().Equals(cty.String) {
			return SourceRef{}, hcl.Diagnostics{{
				Severity: hcl.DiagError,
				Summary:  "Invalid source reference",
				Detail:   "A source is named by a string such as \"source.amazon-ebs.web\".",
				Subject:  expr.Range().Ptr(),
			}}
		}
		s = val.AsString()
	}
	return l.lookupSource(s, expr.Range())
}

func (l *loader) lookupSource(s string, rng hcl.Range) (SourceRef, hcl.Diagnostics) {
	// Packer also accepts "sources.TYPE.NAME".
	rest, ok := strings.CutPrefix(s, "source.")
	if !ok {
		rest = strings.TrimPrefix(s, "sources.")
	}
	typ, name, ok := strings.Cut(rest, ".")
	if !ok || typ == "" || name == "" || strings.Contains(name, ".") {
		return SourceRef{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid source reference",
			Detail:   fmt.Sprintf("%q is not a source reference: write \"source.TYPE.NAME\", such as \"source.amazon-ebs.web\".", s),
			Subject:  rng.Ptr(),
		}}
	}
	ref := SourceRef{Type: typ, Name: name}
	if _, ok := l.t.Sources[ref]; !ok {
		names := make([]string, 0, len(l.t.Sources))
		for r := range l.t.Sources {
			names = append(names, "source."+r.String())
		}
		hint := ""
		if sug := suggest("source."+ref.String(), names); sug != "" {
			hint = fmt.Sprintf(" Did you mean %q?", sug)
		}
		return SourceRef{}, hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Reference to undefined source",
			Detail:   fmt.Sprintf("The template defines no source block %q %q.%s", typ, name, hint),
			Subject:  rng.Ptr(),
		}}
	}
	return ref, nil
}

// decodeBuildSource reads a source block inside a build: a reference to a
// top-level source, with an optional name and attributes that override the
// top-level source's.
func (l *loader) decodeBuildSource(blk *hcl.Block) (*BuildSource, hcl.Diagnostics) {
	ref, diags := l.lookupSource(blk.Labels[0], blk.LabelRanges[0])
	if diags.HasErrors() {
		return nil, diags
	}
	content, over, d := blk.Body.PartialContent(buildSourceSchema)
	diags = append(diags, d...)
	s := &BuildSource{Ref: ref, Name: ref.Name, DeclRange: blk.DefRange}
	if attr, ok := content.Attributes["name"]; ok {
		diags = append(diags, decodeString(attr, l.t.evalContext(), &s.Name)...)
	}
	s.Body = overrideBodies(l.t.Sources[ref].Body, over)
	return s, diags
}

var provisionerSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "name"}, {Name: "pause_before"}, {Name: "max_retries"}, {Name: "timeout"},
	{Name: "only"}, {Name: "except"}, {Name: "override"},
}}

// decodeProvisioner reads a provisioner block: the options kiln applies to
// every provisioner are decoded, the rest stays in Body.
func (l *loader) decodeProvisioner(blk *hcl.Block, b *Build, checks *[]filterCheck) (*Provisioner, hcl.Diagnostics) {
	content, rest, diags := blk.Body.PartialContent(provisionerSchema)
	p := &Provisioner{Type: blk.Labels[0], Body: rest, DeclRange: blk.DefRange, TypeRange: blk.LabelRanges[0]}
	ctx := l.t.EvalContext(b, nil, nil)
	attrs := content.Attributes
	if a, ok := attrs["name"]; ok {
		diags = append(diags, decodeString(a, ctx, &p.Name)...)
	}
	if a, ok := attrs["pause_before"]; ok {
		diags = append(diags, decodeDuration(a, ctx, &p.PauseBefore)...)
	}
	if a, ok := attrs["timeout"]; ok {
		diags = append(diags, decodeDuration(a, ctx, &p.Timeout)...)
	}
	if a, ok := attrs["max_retries"]; ok {
		diags = append(diags, decodeInt(a, ctx, &p.MaxRetries)...)
	}
	if a, ok := attrs["override"]; ok {
		var d hcl.Diagnostics
		p.Override, d = decodeOverride(a, ctx)
		diags = append(diags, d...)
	}
	d := decodeFilters(attrs, ctx, &p.Only, &p.Except, checks)
	return p, append(diags, d...)
}

var postProcessorSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
	{Name: "name"}, {Name: "keep_input_artifact"}, {Name: "only"}, {Name: "except"},
}}

// decodePostProcessor reads a post-processor block like decodeProvisioner.
func (l *loader) decodePostProcessor(blk *hcl.Block, b *Build, checks *[]filterCheck) (*PostProcessor, hcl.Diagnostics) {
	content, rest, diags := blk.Body.PartialContent(postProcessorSchema)
	p := &PostProcessor{Type: blk.Labels[0], Body: rest, DeclRange: blk.DefRange, TypeRange: blk.LabelRanges[0]}
	ctx := l.t.EvalContext(b, nil, nil)
	attrs := content.Attributes
	if a, ok := attrs["name"]; ok {
		diags = append(diags, decodeString(a, ctx, &p.Name)...)
	}
	if a, ok := attrs["keep_input_artifact"]; ok {
		diags = append(diags, decodeValue(a, ctx, cty.Bool, func(v cty.Value) {
			keep := v.True()
			p.KeepInputArtifact = &keep
		})...)
	}
	d := decodeFilters(attrs, ctx, &p.Only, &p.Except, checks)
	return p, append(diags, d...)
}

// filterCheck is an only or except list, checked against the build's
// sources once all are known.
type filterCheck struct {
	patterns []string
	rng      hcl.Range
}

// decodeFilters reads only and except: lists of glob patterns over source
// names.
func decodeFilters(attrs hcl.Attributes, ctx *hcl.EvalContext, only, except *[]string, checks *[]filterCheck) hcl.Diagnostics {
	var diags hcl.Diagnostics
	o, hasOnly := attrs["only"]
	e, hasExcept := attrs["except"]
	if hasOnly && hasExcept {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Both only and except",
			Detail:   "Use only or except, not both.",
			Subject:  e.NameRange.Ptr(),
		}}
	}
	for _, f := range []struct {
		attr *hcl.Attribute
		dst  *[]string
	}{{o, only}, {e, except}} {
		if f.attr == nil {
			continue
		}
		var patterns []string
		d := gohcl.DecodeExpression(f.attr.Expr, ctx, &patterns)
		diags = append(diags, d...)
		if d.HasErrors() {
			continue
		}
		for _, p := range patterns {
			if _, err := glob.Compile(p); err != nil {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagError,
					Summary:  "Invalid glob pattern",
					Detail:   fmt.Sprintf("%q is not a valid pattern: %s.", p, err),
					Subject:  f.attr.Expr.Range().Ptr(),
				})
			}
		}
		*f.dst = patterns
		*checks = append(*checks, filterCheck{patterns: patterns, rng: f.attr.Expr.Range()})
	}
	return diags
}

// checkFilters warns about only and except patterns that match no source of
// the build.
func checkFilters(b *Build, checks []filterCheck) hcl.Diagnostics {
	var diags hcl.Diagnostics
	names := make([]string, len(b.Sources))
	for i, s := range b.Sources {
		names[i] = s.Ref.Type + "." + s.Name
	}
	for _, c := range checks {
		for _, p := range c.patterns {
			g, err := glob.Compile(p)
			if err != nil {
				continue // reported when decoded
			}
			matched := false
			for _, n := range names {
				matched = matched || g.Match(n)
			}
			if !matched {
				diags = append(diags, &hcl.Diagnostic{
					Severity: hcl.DiagWarning,
					Summary:  "Filter matches no source",
					Detail:   fmt.Sprintf("The pattern %q matches none of the build's sources (%s).", p, strings.Join(names, ", ")),
					Subject:  c.rng.Ptr(),
				})
			}
		}
	}
	return diags
}

// BodyFor returns the provisioner's body for the build source s: Body with
// the attributes of the override entry for s (by its name, or by
// "TYPE.NAME") applied.
func (p *Provisioner) BodyFor(s *BuildSource) hcl.Body {
	if s == nil {
		return p.Body
	}
	if o, ok := p.Override[s.Ref.Type+"."+s.Name]; ok {
		return overrideBodies(p.Body, o)
	}
	if o, ok := p.Override[s.Name]; ok {
		return overrideBodies(p.Body, o)
	}
	return p.Body
}

// decodeOverride reads override = { NAME = { attr = value, ... }, ... }.
// Entries written as object constructors keep their expressions, so they are
// evaluated per source like the rest of the body; others (JSON) are
// evaluated now.
func decodeOverride(attr *hcl.Attribute, ctx *hcl.EvalContext) (map[string]hcl.Body, hcl.Diagnostics) {
	invalid := func(rng hcl.Range) hcl.Diagnostics {
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Invalid override",
			Detail:   "Write override = { SOURCE_NAME = { attribute = value } }.",
			Subject:  rng.Ptr(),
		}}
	}
	out := map[string]hcl.Body{}
	if obj, ok := attr.Expr.(*hclsyntax.ObjectConsExpr); ok {
		var diags hcl.Diagnostics
		for _, item := range obj.Items {
			key, d := objectKey(item.KeyExpr, ctx)
			if d.HasErrors() {
				diags = append(diags, d...)
				continue
			}
			inner, ok := item.ValueExpr.(*hclsyntax.ObjectConsExpr)
			if !ok {
				diags = append(diags, invalid(item.ValueExpr.Range())...)
				continue
			}
			body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: inner.SrcRange, EndRange: inner.SrcRange}
			for _, a := range inner.Items {
				name, d := objectKey(a.KeyExpr, ctx)
				if d.HasErrors() {
					diags = append(diags, d...)
					continue
				}
				body.Attributes[name] = &hclsyntax.Attribute{
					Name: name, Expr: a.ValueExpr, NameRange: a.KeyExpr.Range(),
					SrcRange: hcl.RangeBetween(a.KeyExpr.Range(), a.ValueExpr.Range()),
				}
			}
			out[key] = body
		}
		return out, diags
	}
	val, diags := attr.Expr.Value(ctx)
	if diags.HasErrors() {
		return nil, diags
	}
	if !val.IsWhollyKnown() || val.IsNull() || !(val.Type().IsObjectType() || val.Type().IsMapType()) {
		return nil, invalid(attr.Expr.Range())
	}
	rng := attr.Expr.Range()
	for key, entry := range val.AsValueMap() {
		if entry.IsNull() || !(entry.Type().IsObjectType() || entry.Type().IsMapType()) {
			return nil, invalid(rng)
		}
		body := &hclsyntax.Body{Attributes: hclsyntax.Attributes{}, SrcRange: rng, EndRange: rng}
		for name, v := range entry.AsValueMap() {
			body.Attributes[name] = &hclsyntax.Attribute{
				Name: name, Expr: &hclsyntax.LiteralValueExpr{Val: v, SrcRange: rng}, NameRange: rng, SrcRange: rng,
			}
		}
		out[key] = body
	}
	return out, nil
}

// objectKey reads the key of an object constructor item: a bare name or a
// string.
func objectKey(expr hcl.Expression, ctx *hcl.EvalContext) (string, hcl.Diagnostics) {
	if k := hcl.ExprAsKeyword(expr); k != "" {
		return k, nil
	}
	var s string
	diags := decodeValue(&hcl.Attribute{Name: "key", Expr: expr}, ctx, cty.String, func(v cty.Value) { s = v.AsString() })
	if !diags.HasErrors() && s == "" {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  "Invalid override key",
			Detail:   "A key must be a known, non-empty string.",
			Subject:  expr.Range().Ptr(),
		})
	}
	return s, diags
}
