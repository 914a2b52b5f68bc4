package template

import (
	"context"
	"fmt"
	"sort"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// DataRef names a data block: TYPE.NAME.
type DataRef struct {
	Type, Name string
}

// String returns "TYPE.NAME".
func (r DataRef) String() string { return r.Type + "." + r.Name }

// Data is a data "TYPE" "NAME" block. Its body is decoded by the data source
// of its type, found through WithDataSources.
type Data struct {
	DataRef
	Body hcl.Body
	// Value is data.TYPE.NAME in expressions: the data source's output once
	// EvaluateDataSources ran, an unknown value of its output type before
	// (or cty.DynamicVal when the block is invalid).
	Value     cty.Value
	DeclRange hcl.Range
	// TypeRange is the range of the type label, where an unknown type is
	// reported.
	TypeRange hcl.Range
}

func newData(b *hcl.Block) *Data {
	return &Data{
		DataRef:   DataRef{Type: b.Labels[0], Name: b.Labels[1]},
		Body:      b.Body,
		Value:     cty.DynamicVal,
		DeclRange: b.DefRange,
		TypeRange: b.LabelRanges[0],
	}
}

// DataSource is a configured data block, as a DataSources decodes it.
type DataSource interface {
	// OutputType is the type of the value Execute returns.
	OutputType() cty.Type
	// Execute does the lookup.
	Execute(ctx context.Context) (cty.Value, error)
}

// SecretsReporter is implemented by data sources whose output can hold
// secrets (a decrypted SecureString parameter): the strings Secrets returns
// for an output are redacted everywhere, as values of sensitive locals are.
type SecretsReporter interface {
	Secrets(out cty.Value) []string
}

// DataSources is what Load needs to know about data sources: which types
// exist and how each decodes its body. The kiln package provides one backed
// by its data source registry. Decoding must have no side effects.
type DataSources interface {
	// Types returns the known type labels, for suggestions.
	Types() []string
	// Decode decodes the body of a data block of type typ with ectx. ok is
	// false when typ is unknown. The DataSource is nil only with errors.
	Decode(typ string, body hcl.Body, ectx *hcl.EvalContext) (ds DataSource, ok bool, diags hcl.Diagnostics)
}

// WithDataSources gives Load the data sources that data blocks may use.
// Without it, every data block is an error.
func WithDataSources(ds DataSources) LoadOption {
	return func(c *loadConfig) { c.dataSources = ds }
}

// evalData decodes a data block and, when execute is set, runs its data
// source; it sets d.Value.
func (l *loader) evalData(ctx context.Context, execute bool, d *Data, ectx *hcl.EvalContext) hcl.Diagnostics {
	d.Value = cty.DynamicVal
	var (
		types []string
		ds    DataSource
		ok    bool
		diags hcl.Diagnostics
	)
	if l.cfg.dataSources != nil {
		types = l.cfg.dataSources.Types()
		ds, ok, diags = l.cfg.dataSources.Decode(d.Type, d.Body, ectx)
	}
	if !ok {
		detail := fmt.Sprintf("kiln has no data source named %q", d.Type)
		if s := suggest(d.Type, types); s != "" {
			detail += fmt.Sprintf("; did you mean %q?", s)
		} else if len(types) > 0 {
			detail += fmt.Sprintf("; known: %v", types)
		}
		return hcl.Diagnostics{{
			Severity: hcl.DiagError,
			Summary:  "Unknown data source type",
			Detail:   detail + ".",
			Subject:  d.TypeRange.Ptr(),
		}}
	}
	if diags.HasErrors() || ds == nil {
		return diags
	}
	ty := ds.OutputType()
	if !execute {
		d.Value = cty.UnknownVal(ty)
		return diags
	}
	v, err := ds.Execute(ctx)
	if err != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Data source %s failed", d.DataRef),
			Detail:   fmt.Sprintf("data %q %q: %v", d.Type, d.Name, err),
			Subject:  d.DeclRange.Ptr(),
		})
	}
	out, err := convert.Convert(v, ty)
	if err != nil {
		return append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagError,
			Summary:  fmt.Sprintf("Data source %s returned an invalid value", d.DataRef),
			Detail:   fmt.Sprintf("The %s data source returned a value that is not of its declared type: %v.", d.Type, err),
			Subject:  d.DeclRange.Ptr(),
		})
	}
	d.Value = out
	if r, ok := ds.(SecretsReporter); ok {
		for _, secret := range r.Secrets(out) {
			l.t.dataSecrets = append(l.t.dataSecrets, cty.StringVal(secret))
		}
	}
	return diags
}

// dataObject is the value of `data` in expressions: data.TYPE.NAME.
func dataObject(vals map[DataRef]cty.Value) cty.Value {
	byType := map[string]map[string]cty.Value{}
	for r, v := range vals {
		if byType[r.Type] == nil {
			byType[r.Type] = map[string]cty.Value{}
		}
		byType[r.Type][r.Name] = v
	}
	obj := make(map[string]cty.Value, len(byType))
	for typ, m := range byType {
		obj[typ] = cty.ObjectVal(m)
	}
	return cty.ObjectVal(obj)
}

// bodyTraversals returns every variable reference in body and its nested
// blocks, whatever their schema: the template does not know a data source's
// schema, but must know what a data block depends on.
func bodyTraversals(body hcl.Body) []hcl.Traversal {
	if sb, ok := body.(*hclsyntax.Body); ok {
		var out []hcl.Traversal
		names := make([]string, 0, len(sb.Attributes))
		for name := range sb.Attributes {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			out = append(out, sb.Attributes[name].Expr.Variables()...)
		}
		for _, b := range sb.Blocks {
			out = append(out, bodyTraversals(b.Body)...)
		}
		return out
	}
	// JSON bodies: every property, nested objects included, reads as an
	// attribute whose expression knows its references.
	attrs, _ := body.JustAttributes()
	var out []hcl.Traversal
	for _, a := range sortedAttributes(attrs) {
		out = append(out, a.Expr.Variables()...)
	}
	return out
}

// pendingData is what EvaluateDataSources needs to evaluate a template's
// data blocks after Load left them unknown.
type pendingData struct {
	l        *loader
	values   valueBlocks
	builds   hcl.Blocks
	reported map[string]bool
}

func diagKey(d *hcl.Diagnostic) string {
	return fmt.Sprintf("%d|%s|%s|%v", d.Severity, d.Summary, d.Detail, d.Subject)
}

// HasPendingData reports whether the template has data blocks that
// EvaluateDataSources has not run yet.
func (t *Template) HasPendingData() bool { return t.pending != nil }

// EvaluateDataSources runs the template's data sources, once: each data
// block is executed in dependency order with the locals, which are evaluated
// again with the data sources' outputs, and so are the build blocks. It
// changes t in place, so SensitiveValues then covers sensitive locals made
// from data. It returns the problems Load did not already report; a second
// call does nothing. Load itself never runs a data source: until this is
// called, data values are unknown and checks that need them are deferred.
func (t *Template) EvaluateDataSources(ctx context.Context) hcl.Diagnostics {
	p := t.pending
	if p == nil {
		return nil
	}
	t.pending = nil
	t.Locals = map[string]*Local{}
	t.Data = map[DataRef]*Data{}
	diags := p.l.decodeValues(ctx, true, p.values)
	t.base = t.baseVariables()
	t.Builds = nil
	for _, b := range p.builds {
		diags = append(diags, p.l.decodeBuild(b)...)
	}
	var out hcl.Diagnostics
	for _, d := range diags {
		if !p.reported[diagKey(d)] {
			out = append(out, d)
		}
	}
	return out
}

// dataValue returns the value of `data` from t.Data.
func (t *Template) dataValue() cty.Value {
	vals := make(map[DataRef]cty.Value, len(t.Data))
	for r, d := range t.Data {
		vals[r] = d.Value
	}
	return dataObject(vals)
}

// dataReferenced returns the parts of data values that expr refers to
// (data.TYPE.NAME.value and the like): a sensitive local made from them is
// redacted, and so must they be, wherever they show on their own.
func dataReferenced(expr hcl.Expression, vals map[DataRef]cty.Value) []cty.Value {
	var out []cty.Value
	for _, tr := range expr.Variables() {
		typ, ok1 := traverseName(tr, 1)
		name, ok2 := traverseName(tr, 2)
		if tr.RootName() != "data" || !ok1 || !ok2 {
			continue
		}
		v, ok := vals[DataRef{Type: typ, Name: name}]
		if !ok {
			continue
		}
		if len(tr) > 3 {
			var diags hcl.Diagnostics
			if v, diags = hcl.Traversal(tr[3:]).TraverseRel(v); diags.HasErrors() {
				continue
			}
		}
		out = append(out, v)
	}
	return out
}
