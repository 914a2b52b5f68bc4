package template

import (
	"github.com/hashicorp/hcl/v2"
)

// overrideBody is a body whose attributes and blocks come from over where
// over sets them and from base otherwise. An attribute in over replaces the
// attribute of the same name in base; blocks of a type over has replace all of
// base's blocks of that type. Every attribute and block keeps the range of the
// file it was written in, and each body reports its own unknown attributes.
type overrideBody struct {
	base, over hcl.Body
}

// overrideBodies returns base with over's attributes and blocks applied.
func overrideBodies(base, over hcl.Body) hcl.Body {
	return &overrideBody{base: base, over: over}
}

// relaxed returns schema with no attribute required: each half may lack an
// attribute the other sets, so requirements are checked on the merged result.
func relaxed(schema *hcl.BodySchema) *hcl.BodySchema {
	out := &hcl.BodySchema{Blocks: schema.Blocks, Attributes: make([]hcl.AttributeSchema, len(schema.Attributes))}
	for i, a := range schema.Attributes {
		out.Attributes[i] = hcl.AttributeSchema{Name: a.Name}
	}
	return out
}

func (b *overrideBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	r := relaxed(schema)
	baseC, diags := b.base.Content(r)
	overC, d := b.over.Content(r)
	diags = append(diags, d...)
	c := merge(baseC, overC)
	return c, append(diags, b.checkRequired(schema, c)...)
}

func (b *overrideBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	r := relaxed(schema)
	baseC, baseRest, diags := b.base.PartialContent(r)
	overC, overRest, d := b.over.PartialContent(r)
	diags = append(diags, d...)
	c := merge(baseC, overC)
	return c, &overrideBody{base: baseRest, over: overRest}, append(diags, b.checkRequired(schema, c)...)
}

func (b *overrideBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	baseA, diags := b.base.JustAttributes()
	overA, d := b.over.JustAttributes()
	diags = append(diags, d...)
	out := make(hcl.Attributes, len(baseA)+len(overA))
	for k, v := range baseA {
		out[k] = v
	}
	for k, v := range overA {
		out[k] = v
	}
	return out, diags
}

func (b *overrideBody) MissingItemRange() hcl.Range {
	return b.base.MissingItemRange()
}

func (b *overrideBody) checkRequired(schema *hcl.BodySchema, c *hcl.BodyContent) hcl.Diagnostics {
	var diags hcl.Diagnostics
	for _, a := range schema.Attributes {
		if _, ok := c.Attributes[a.Name]; a.Required && !ok {
			diags = append(diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "Missing required argument",
				Detail:   "The argument \"" + a.Name + "\" is required, but no definition was found.",
				Subject:  b.MissingItemRange().Ptr(),
			})
		}
	}
	return diags
}

// merge applies over's attributes and blocks to base's.
func merge(base, over *hcl.BodyContent) *hcl.BodyContent {
	if base == nil {
		base = &hcl.BodyContent{}
	}
	if over == nil {
		over = &hcl.BodyContent{}
	}
	out := &hcl.BodyContent{
		Attributes:       make(hcl.Attributes, len(base.Attributes)+len(over.Attributes)),
		MissingItemRange: base.MissingItemRange,
	}
	for k, v := range base.Attributes {
		out.Attributes[k] = v
	}
	for k, v := range over.Attributes {
		out.Attributes[k] = v
	}
	replaced := map[string]bool{}
	for _, blk := range over.Blocks {
		replaced[blk.Type] = true
	}
	for _, blk := range base.Blocks {
		if !replaced[blk.Type] {
			out.Blocks = append(out.Blocks, blk)
		}
	}
	out.Blocks = append(out.Blocks, over.Blocks...)
	return out
}
