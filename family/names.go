package family

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// varName is the template variable that names a family's images.
const varName = "family"

// EvalContext returns ectx with the variable family (family.name,
// family.version) that templates name a family's images with
// (ami_name = "web-${family.version}"). Version "" leaves family.version
// unknown: the engine decodes the components of a build with a family
// block in that context, so that references to it are valid.
func EvalContext(ectx *hcl.EvalContext, name, version string) *hcl.EvalContext {
	out := &hcl.EvalContext{Variables: map[string]cty.Value{}}
	if ectx != nil {
		for k, v := range ectx.Variables {
			out.Variables[k] = v
		}
		out.Functions = ectx.Functions
	}
	v := cty.UnknownVal(cty.String)
	if version != "" {
		v = cty.StringVal(version)
	}
	out.Variables[varName] = cty.ObjectVal(map[string]cty.Value{"name": cty.StringVal(name), "version": v})
	return out
}

// EngineNamed reports whether ectx is the context of a source in a build
// with a family block (EvalContext): the engine then names the builder's
// image, so the builder's own name attribute is optional. It says nothing
// of the image's name or version: those reach Run in builder.Env.Image.
func EngineNamed(ectx *hcl.EvalContext) bool {
	if ectx == nil {
		return false
	}
	_, ok := ectx.Variables[varName]
	return ok
}

// Names keeps a source body's naming attributes (ami_name; vm_name and
// output_directory) unevaluated, so that a builder decoded once can name
// the image of any version of its family. The zero Names has none.
type Names struct {
	ectx  *hcl.EvalContext
	exprs map[string]hcl.Expression
}

// NewNames keeps the attributes attrs of body that are set, and ectx, the
// context body is decoded in. It has no side effects; a problem with the
// attributes is the decoder's to report.
func NewNames(body hcl.Body, ectx *hcl.EvalContext, attrs ...string) Names {
	n := Names{ectx: ectx, exprs: map[string]hcl.Expression{}}
	if body == nil {
		return n
	}
	schema := &hcl.BodySchema{}
	for _, a := range attrs {
		schema.Attributes = append(schema.Attributes, hcl.AttributeSchema{Name: a})
	}
	content, _, _ := body.PartialContent(schema)
	if content == nil {
		return n
	}
	for name, a := range content.Attributes {
		n.exprs[name] = a.Expr
	}
	return n
}

// Value evaluates attribute attr for version of family fam (family.name
// and family.version set), or returns def when the template does not set
// it (or sets it to null).
func (n Names) Value(attr, fam, version, def string) (string, error) {
	expr, ok := n.exprs[attr]
	if !ok {
		return def, nil
	}
	v, diags := expr.Value(EvalContext(n.ectx, fam, version))
	if diags.HasErrors() {
		return "", fmt.Errorf("%s: %w", attr, diags)
	}
	v, _ = v.UnmarkDeep()
	if v.IsNull() {
		return def, nil // as the decoder reads it: not set
	}
	if !v.IsWhollyKnown() {
		return "", fmt.Errorf("%s: the value is not known for version %s", attr, version)
	}
	s, err := convert.Convert(v, cty.String)
	if err != nil {
		return "", fmt.Errorf("%s: %w", attr, err)
	}
	return s.AsString(), nil
}

// GuardVersion returns body, to be decoded in ectx, wrapped so that
// decoding it adds to diags an error for every attribute that refers to
// family.version, other than the top-level attributes naming (the
// builder's naming attributes, which Names evaluates for each version). A
// builder is decoded once, with the version unknown: such an attribute
// would be left unset. family.name may be used anywhere. Outside a build
// with a family block (EngineNamed is false) body is returned as it is.
func GuardVersion(body hcl.Body, ectx *hcl.EvalContext, diags *hcl.Diagnostics, naming ...string) hcl.Body {
	if body == nil || !EngineNamed(ectx) {
		return body
	}
	g := &versionGuard{diags: diags, seen: map[string]bool{}, naming: naming}
	return &guardedBody{Body: body, g: g, top: true}
}

type versionGuard struct {
	diags  *hcl.Diagnostics
	seen   map[string]bool // ranges reported
	naming []string
}

// guardedBody checks the attributes that its Content, PartialContent and
// JustAttributes return, and guards the bodies of its blocks.
type guardedBody struct {
	hcl.Body
	g   *versionGuard
	top bool
}

func (b *guardedBody) Content(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Diagnostics) {
	c, diags := b.Body.Content(schema)
	b.content(c)
	return c, diags
}

func (b *guardedBody) PartialContent(schema *hcl.BodySchema) (*hcl.BodyContent, hcl.Body, hcl.Diagnostics) {
	c, rest, diags := b.Body.PartialContent(schema)
	b.content(c)
	if rest != nil {
		rest = &guardedBody{Body: rest, g: b.g, top: b.top}
	}
	return c, rest, diags
}

func (b *guardedBody) JustAttributes() (hcl.Attributes, hcl.Diagnostics) {
	attrs, diags := b.Body.JustAttributes()
	b.attributes(attrs)
	return attrs, diags
}

func (b *guardedBody) content(c *hcl.BodyContent) {
	if c == nil {
		return
	}
	b.attributes(c.Attributes)
	for _, blk := range c.Blocks {
		blk.Body = &guardedBody{Body: blk.Body, g: b.g}
	}
}

func (b *guardedBody) attributes(attrs hcl.Attributes) {
	for name, a := range attrs {
		if b.top && slices.Contains(b.g.naming, name) {
			continue
		}
		for _, t := range a.Expr.Variables() {
			if !refersToVersion(t) || b.g.seen[t.SourceRange().String()] {
				continue
			}
			b.g.seen[t.SourceRange().String()] = true
			detail := "family.version is not known when this source is decoded; only the attributes that name the image can use it"
			if len(b.g.naming) > 0 {
				detail += " (" + strings.Join(b.g.naming, ", ") + ")"
			}
			detail += ". The image's lineage tag kiln:version carries the version."
			*b.g.diags = append(*b.g.diags, &hcl.Diagnostic{
				Severity: hcl.DiagError,
				Summary:  "family.version cannot be used in " + name,
				Detail:   detail,
				Subject:  t.SourceRange().Ptr(),
			})
		}
	}
}

// refersToVersion reports whether t reads family.version (or the whole
// family object).
func refersToVersion(t hcl.Traversal) bool {
	if t.RootName() != varName {
		return false
	}
	if len(t) < 2 {
		return true
	}
	if a, ok := t[1].(hcl.TraverseAttr); ok {
		return a.Name != "name"
	}
	return true
}
